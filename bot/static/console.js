/* legalbot — lawyer console (律师工作台). Plain browser JS, no dependencies.
 * SECURITY: server data is only ever rendered with textContent / createTextNode. */
(function () {
  "use strict";

  var QUEUE_POLL_MS = 3000;
  var TICKET_POLL_MS = 2000;

  var SERVICES = {
    consultation: "法律咨询",
    legal_aid: "法律援助",
    mediation: "人民调解",
    lawyer: "律师服务",
    notarization: "公证服务",
    judicial_appraisal: "司法鉴定",
    enterprise_complaint: "企业投诉",
    post_release_support: "安置帮教",
    community_correction: "社区矫正",
    drug_rehab: "社区戒毒",
    prison_visit: "监狱在线探视"
  };
  var TOPICS = {
    marriage_family: "婚姻家庭",
    inheritance: "继承",
    labor: "劳动争议",
    traffic: "交通事故",
    debt: "借贷债务",
    contract: "合同纠纷",
    property: "房产物业与租赁",
    tort: "侵权与人身损害",
    medical: "医疗纠纷",
    consumer: "消费维权",
    land_demolition: "征地拆迁",
    administrative: "行政争议",
    criminal: "刑事",
    company: "公司与商事",
    construction: "建设工程",
    ip: "知识产权",
    other: "其他"
  };
  var STATUSES = {
    waiting: "等待认领",
    claimed: "处理中",
    resolved: "已结束",
    expired: "已过期"
  };
  var CHANNELS = { web: "网页", telegram: "Telegram", wechat: "微信公众号", cli: "命令行" };
  var SENDERS = { citizen: "群众", bot: "智能助手", lawyer: "律师", system: "系统" };
  var ROLES = { lawyer: "律师", admin: "管理员", maintainer: "维护人员", manager: "管理人员" };
  var FACT_KEYS = {
    amount: "金额", money: "金额", date: "日期", time: "时间", duration: "时长",
    location: "地点", place: "地点", city: "城市", age: "年龄", parties: "当事人",
    party: "当事人", employer: "用人单位", injury: "伤情", relation: "关系", relationship: "关系"
  };

  function lookup(map, key) {
    if (key == null || key === "") { return ""; }
    return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : String(key);
  }

  // ---------- DOM ----------
  function $(id) { return document.getElementById(id); }
  var els = {
    loginView: $("login-view"), appView: $("app-view"),
    loginForm: $("login-form"), username: $("username"), password: $("password"),
    login: $("login"), loginError: $("login-error"),
    userBox: $("user-box"), userName: $("user-name"), logout: $("logout"),
    error: $("console-error"), errorText: $("console-error-text"), errorClose: $("console-error-close"),
    queue: $("queue"), queueCount: $("queue-count"), queueEmpty: $("queue-empty"),
    placeholder: $("ticket-placeholder"), ticketView: $("ticket-view"),
    ticketHeading: $("ticket-heading"), ticketMeta: $("ticket-meta"), ticketClaim: $("ticket-claim"),
    packet: $("packet"), transcript: $("transcript"),
    claimedTools: $("claimed-tools"), readonly: $("ticket-readonly"),
    replyForm: $("reply-form"), replyText: $("reply-text"), replySend: $("reply-send"),
    resolveForm: $("resolve-form"), outcome: $("outcome"), summary: $("summary"), resolve: $("resolve")
  };

  function el(tag, className, text) {
    var n = document.createElement(tag);
    if (className) { n.className = className; }
    if (text != null) { n.textContent = String(text); }
    return n;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  // ---------- state ----------
  var me = null;
  var queueTimer = null, ticketTimer = null;
  var queueBusy = false, ticketBusy = false;
  var rows = Object.create(null);       // ticket id -> {el, sig}
  var currentId = null;
  var currentTicket = null;
  var transcriptShown = Object.create(null);
  var packetSig = null;
  var errorSource = null;

  // ---------- errors ----------
  function showError(msg, source) {
    errorSource = source || "action";
    els.errorText.textContent = String(msg);
    els.error.hidden = false;
  }
  function clearError(source) {
    if (source && errorSource !== source) { return; }
    errorSource = null;
    els.error.hidden = true;
    els.errorText.textContent = "";
  }
  els.errorClose.addEventListener("click", function () { clearError(); });

  function detailOf(res) {
    var d = res && res.data && res.data.detail;
    if (typeof d === "string" && d) { return d; }
    if (Array.isArray(d) && d.length) {
      return d.map(function (x) {
        if (x && typeof x === "object") {
          var loc = Array.isArray(x.loc) ? x.loc.filter(function (p) { return p !== "body"; }).join(".") : "";
          return (loc ? loc + ": " : "") + (x.msg || JSON.stringify(x));
        }
        return String(x);
      }).join("；");
    }
    if (d && typeof d === "object") { return JSON.stringify(d); }
    return "请求失败（HTTP " + (res ? res.status : "?") + "）";
  }

  // ---------- HTTP ----------
  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (txt) {
        var data = null;
        if (txt) { try { data = JSON.parse(txt); } catch (e) { data = { detail: txt.slice(0, 300) }; } }
        return { ok: r.ok, status: r.status, data: data };
      });
    }, function () {
      var err = new Error("无法连接服务器，请检查网络后重试");
      err.network = true;
      throw err;
    });
  }

  // Handles a non-OK response from an authenticated call. Returns true if handled as 401.
  function handleFailure(res, source) {
    if (res.status === 401) {
      sessionExpired();
      return true;
    }
    showError(detailOf(res), source);
    return false;
  }

  // ---------- formatting ----------
  function fmtWait(sec) {
    sec = Math.max(0, Math.floor(Number(sec) || 0));
    if (sec < 60) { return "等待 " + sec + " 秒"; }
    var min = Math.floor(sec / 60);
    if (min < 60) { return "等待 " + min + " 分钟"; }
    var h = Math.floor(min / 60);
    var m = min % 60;
    return "等待 " + h + " 小时" + (m ? " " + m + " 分钟" : "");
  }
  function fmtTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    function p(n) { return String(n).padStart(2, "0"); }
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + p(d.getHours()) + ":" + p(d.getMinutes());
  }
  function isMine(ticket) {
    if (!me || !ticket || !ticket.lawyer) { return false; }
    return ticket.lawyer === me.username || ticket.lawyer === me.display_name;
  }

  // ---------- views ----------
  function showLogin() {
    els.appView.hidden = true;
    els.userBox.hidden = true;
    els.loginView.hidden = false;
    els.login.disabled = false;
    setTimeout(function () { els.username.focus(); }, 0);
  }

  function showApp() {
    els.loginView.hidden = true;
    els.appView.hidden = false;
    els.userBox.hidden = false;
    var name = me.display_name || me.username || "";
    var role = me.role ? " · " + lookup(ROLES, me.role) : "";
    els.userName.textContent = name + (me.username && me.username !== name ? "（" + me.username + "）" : "") + role;
    startQueue();
  }

  function stopAll() {
    if (queueTimer) { clearInterval(queueTimer); queueTimer = null; }
    if (ticketTimer) { clearInterval(ticketTimer); ticketTimer = null; }
  }

  function resetWorkspace() {
    stopAll();
    clear(els.queue);
    rows = Object.create(null);
    closeTicket();
  }

  function sessionExpired() {
    var wasIn = !!me;
    me = null;
    resetWorkspace();
    showLogin();
    if (wasIn) {
      els.loginError.textContent = "登录已过期，请重新登录";
      els.loginError.hidden = false;
    }
  }

  // ---------- login / logout ----------
  els.loginForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var username = els.username.value.trim();
    var password = els.password.value;
    els.loginError.hidden = true;
    if (!username || !password) {
      els.loginError.textContent = "请输入用户名和密码";
      els.loginError.hidden = false;
      return;
    }
    els.login.disabled = true;
    api("POST", "/api/console/login", { username: username, password: password })
      .then(function (res) {
        if (res.ok && res.data) {
          me = res.data;
          els.password.value = "";
          clearError();
          showApp();
        } else {
          els.loginError.textContent = detailOf(res);
          els.loginError.hidden = false;
        }
      }, function (err) {
        els.loginError.textContent = err.message;
        els.loginError.hidden = false;
      })
      .then(function () { els.login.disabled = false; });
  });

  els.logout.addEventListener("click", function () {
    els.logout.disabled = true;
    api("POST", "/api/console/logout")
      .then(function (res) {
        if (!res.ok && res.status !== 401) { showError(detailOf(res)); return; }
        me = null;
        clearError();
        resetWorkspace();
        els.loginError.hidden = true;
        showLogin();
      }, function (err) { showError(err.message); })
      .then(function () { els.logout.disabled = false; });
  });

  // ---------- queue ----------
  function startQueue() {
    if (queueTimer) { clearInterval(queueTimer); }
    loadQueue();
    queueTimer = setInterval(loadQueue, QUEUE_POLL_MS);
  }

  function loadQueue() {
    if (queueBusy || !me) { return Promise.resolve(); }
    queueBusy = true;
    return api("GET", "/api/console/queue")
      .then(function (res) {
        if (!res.ok) { handleFailure(res, "poll"); return; }
        clearError("poll");
        renderQueue((res.data && res.data.tickets) || []);
      }, function (err) { showError(err.message + "（正在重试）", "poll"); })
      .then(function () { queueBusy = false; });
  }

  var STATUS_RANK = { waiting: 0, claimed: 1, resolved: 2, expired: 3 };

  function sortTickets(list) {
    return list.slice().sort(function (a, b) {
      var sa = STATUS_RANK[a.status] != null ? STATUS_RANK[a.status] : 9;
      var sb = STATUS_RANK[b.status] != null ? STATUS_RANK[b.status] : 9;
      if (sa !== sb) { return sa - sb; }
      var pa = a.priority === "urgent" ? 0 : 1, pb = b.priority === "urgent" ? 0 : 1;
      if (pa !== pb) { return pa - pb; }
      return (Number(b.waiting_seconds) || 0) - (Number(a.waiting_seconds) || 0);
    });
  }

  function ticketSig(t) {
    return JSON.stringify([t.status, t.priority, t.service, t.topic, t.summary, t.lawyer, t.channel,
      me && me.username]);
  }

  function buildRow(t) {
    var row = el("div", "ticket");
    row.setAttribute("data-id", String(t.id));
    row.setAttribute("role", "button");
    row.setAttribute("tabindex", "0");
    row.addEventListener("click", function () { openTicket(t.id); });
    row.addEventListener("keydown", function (e) {
      if ((e.key === "Enter" || e.key === " ") && e.target === row) { e.preventDefault(); openTicket(t.id); }
    });
    return row;
  }

  function fillRow(row, t) {
    clear(row);
    var urgent = t.priority === "urgent";
    row.classList.toggle("urgent", urgent);
    row.setAttribute("data-status", String(t.status || ""));
    row.setAttribute("data-priority", String(t.priority || ""));
    row.classList.toggle("mine", isMine(t));

    var top = el("div", "ticket-top");
    if (urgent) { top.appendChild(el("span", "tag tag-urgent", "紧急")); }
    top.appendChild(el("span", "tag tag-status status-" + String(t.status || "").replace(/[^a-z_]/g, ""),
      lookup(STATUSES, t.status)));
    var cls = [lookup(SERVICES, t.service), lookup(TOPICS, t.topic)].filter(Boolean).join(" / ");
    top.appendChild(el("span", "ticket-class", cls));
    top.appendChild(el("span", "ticket-id", "#" + t.id));
    row.appendChild(top);

    row.appendChild(el("div", "ticket-summary", t.summary || "（无摘要）"));

    var foot = el("div", "ticket-foot");
    var wait = el("span", "ticket-wait", t.status === "waiting" ? fmtWait(t.waiting_seconds) : "");
    foot.appendChild(wait);
    if (t.channel) { foot.appendChild(el("span", "ticket-channel", lookup(CHANNELS, t.channel))); }
    if (t.lawyer) {
      foot.appendChild(el("span", "ticket-lawyer", (isMine(t) ? "我认领的" : "认领律师：" + t.lawyer)));
    }
    if (t.status === "waiting") {
      var btn = el("button", "btn btn-primary claim", "认领");
      btn.type = "button";
      btn.setAttribute("data-id", String(t.id));
      btn.addEventListener("click", function (e) {
        e.stopPropagation();
        claim(t.id, btn);
      });
      foot.appendChild(btn);
    }
    row.appendChild(foot);
    row._wait = wait;
  }

  function renderQueue(list) {
    if (!Array.isArray(list)) { list = []; }
    var sorted = sortTickets(list);
    var seen = Object.create(null);
    var waiting = 0;

    sorted.forEach(function (t, i) {
      if (!t || t.id == null) { return; }
      var key = String(t.id);
      seen[key] = true;
      if (t.status === "waiting") { waiting++; }
      var entry = rows[key];
      if (!entry) {
        entry = rows[key] = { el: buildRow(t), sig: null };
      }
      var sig = ticketSig(t);
      if (entry.sig !== sig) {
        fillRow(entry.el, t);
        entry.sig = sig;
      } else if (entry.el._wait) {
        entry.el._wait.textContent = t.status === "waiting" ? fmtWait(t.waiting_seconds) : "";
      }
      entry.el.classList.toggle("active", String(currentId) === key);
      // only move nodes when the order actually changes (avoids eating clicks)
      if (els.queue.children[i] !== entry.el) {
        els.queue.insertBefore(entry.el, els.queue.children[i] || null);
      }
    });

    Object.keys(rows).forEach(function (key) {
      if (!seen[key]) {
        var n = rows[key].el;
        if (n.parentNode) { n.parentNode.removeChild(n); }
        delete rows[key];
      }
    });

    els.queueEmpty.hidden = sorted.length > 0;
    els.queueCount.textContent = waiting ? waiting + " 个待认领" : "";
    els.queueCount.hidden = !waiting;
  }

  function claim(id, btn) {
    clearError();
    if (btn) { btn.disabled = true; }
    return api("POST", "/api/console/tickets/" + encodeURIComponent(id) + "/claim")
      .then(function (res) {
        if (!res.ok) {
          handleFailure(res);
          if (btn) { btn.disabled = false; }
          loadQueue();
          if (String(currentId) === String(id)) { loadTicket(); }
          return;
        }
        loadQueue();
        if (String(currentId) === String(id)) { loadTicket(); } else { openTicket(id); }
      }, function (err) {
        showError(err.message);
        if (btn) { btn.disabled = false; }
      });
  }

  els.ticketClaim.addEventListener("click", function () {
    if (currentId != null) { claim(currentId, els.ticketClaim); }
  });

  // ---------- ticket ----------
  function closeTicket() {
    if (ticketTimer) { clearInterval(ticketTimer); ticketTimer = null; }
    currentId = null;
    currentTicket = null;
    packetSig = null;
    transcriptShown = Object.create(null);
    clear(els.transcript);
    clear(els.packet);
    els.ticketView.hidden = true;
    els.placeholder.hidden = false;
  }

  function openTicket(id) {
    if (String(currentId) === String(id)) { loadTicket(); return; }
    closeTicket();
    currentId = id;
    els.placeholder.hidden = true;
    els.ticketView.hidden = false;
    els.ticketHeading.textContent = "咨询 #" + id;
    clear(els.ticketMeta);
    els.ticketMeta.appendChild(el("span", "muted", "加载中…"));
    els.claimedTools.hidden = true;
    els.readonly.hidden = true;
    els.ticketClaim.hidden = true;
    els.replyText.value = "";
    els.summary.value = "";
    els.outcome.selectedIndex = 0;
    Object.keys(rows).forEach(function (k) { rows[k].el.classList.toggle("active", k === String(id)); });
    ticketBusy = false;
    loadTicket();
    ticketTimer = setInterval(loadTicket, TICKET_POLL_MS);
  }

  function loadTicket() {
    if (currentId == null || ticketBusy) { return Promise.resolve(); }
    var id = currentId;
    ticketBusy = true;
    return api("GET", "/api/console/tickets/" + encodeURIComponent(id))
      .then(function (res) {
        if (String(id) !== String(currentId)) { return; }   // switched meanwhile
        if (!res.ok) { handleFailure(res, "ticket"); return; }
        clearError("ticket");
        renderTicket(res.data || {});
      }, function (err) {
        if (String(id) === String(currentId)) { showError(err.message + "（正在重试）", "ticket"); }
      })
      .then(function () { if (String(id) === String(currentId) || currentId == null) { ticketBusy = false; } });
  }

  function renderTicket(data) {
    var t = data.ticket || {};
    currentTicket = t;
    renderTicketHeader(t);
    renderPacket(data.packet || {}, t);
    addTranscript(data.messages || []);
    renderTools(t);
  }

  function renderTicketHeader(t) {
    els.ticketHeading.textContent = "咨询 #" + (t.id != null ? t.id : currentId);
    clear(els.ticketMeta);
    if (t.priority === "urgent") { els.ticketMeta.appendChild(el("span", "tag tag-urgent", "紧急")); }
    els.ticketMeta.appendChild(el("span", "tag tag-status status-" + String(t.status || "").replace(/[^a-z_]/g, ""),
      lookup(STATUSES, t.status)));
    var bits = [];
    if (t.channel) { bits.push("渠道：" + lookup(CHANNELS, t.channel)); }
    if (t.created_at) { bits.push("创建：" + fmtTime(t.created_at)); }
    if (t.status === "waiting") { bits.push(fmtWait(t.waiting_seconds)); }
    if (t.lawyer) { bits.push("律师：" + t.lawyer + (isMine(t) ? "（我）" : "")); }
    els.ticketMeta.appendChild(el("span", "meta-text", bits.join(" · ")));
    els.ticketClaim.hidden = t.status !== "waiting";
    if (t.status === "waiting") { els.ticketClaim.disabled = false; }
  }

  function renderPacket(p, t) {
    var sig = JSON.stringify(p);
    if (sig === packetSig) { return; }
    packetSig = sig;
    clear(els.packet);

    var head = el("div", "packet-head");
    if (p.urgent) { head.appendChild(el("span", "tag tag-urgent", "紧急")); }
    head.appendChild(el("span", "packet-chip", "服务：" + (lookup(SERVICES, p.service || t.service) || "—")));
    head.appendChild(el("span", "packet-chip", "领域：" + (lookup(TOPICS, p.topic || t.topic) || "—")));
    els.packet.appendChild(head);

    if (p.first_message) {
      els.packet.appendChild(el("div", "packet-label", "群众首条消息"));
      els.packet.appendChild(el("blockquote", "packet-first", p.first_message));
    }

    var facts = p.facts && typeof p.facts === "object" ? p.facts : {};
    var keys = Object.keys(facts);
    els.packet.appendChild(el("div", "packet-label", "已收集的事实"));
    if (keys.length) {
      var dl = el("dl", "facts");
      keys.forEach(function (k) {
        var v = facts[k];
        var vals = Array.isArray(v) ? v.map(String) : [String(v)];
        dl.appendChild(el("dt", null, lookup(FACT_KEYS, k)));
        dl.appendChild(el("dd", null, vals.join("、")));
      });
      els.packet.appendChild(dl);
    } else {
      els.packet.appendChild(el("p", "muted", "无"));
    }

    var faqs = Array.isArray(p.faq_shown) ? p.faq_shown : [];
    els.packet.appendChild(el("div", "packet-label", "已向群众展示的问答"));
    if (faqs.length) {
      var ul = el("ul", "faq-list");
      faqs.forEach(function (f) { ul.appendChild(el("li", null, f)); });
      els.packet.appendChild(ul);
    } else {
      els.packet.appendChild(el("p", "muted", "无"));
    }
  }

  function buildMsg(m) {
    var sender = String(m.sender || (m.direction === "in" ? "citizen" : "bot"));
    var n = el("div", "msg msg-" + (m.direction === "in" ? "in" : "out") + " msg-" + sender.replace(/[^a-z_]/gi, ""));
    n.setAttribute("data-sender", sender);
    n.setAttribute("data-id", String(m.id));
    var label = el("div", "msg-label", lookup(SENDERS, sender));
    var time = fmtTime(m.created_at);
    if (time) { label.appendChild(el("time", "msg-time", time)); }
    n.appendChild(label);
    var bubble = el("div", "msg-bubble");
    bubble.appendChild(document.createTextNode(m.text == null ? "" : String(m.text)));
    n.appendChild(bubble);
    if (Array.isArray(m.buttons) && m.buttons.length) {
      var bw = el("div", "msg-buttons");
      m.buttons.forEach(function (b) {
        if (b) { bw.appendChild(el("span", "msg-button", b.label != null ? b.label : b.payload)); }
      });
      n.appendChild(bw);
    }
    return n;
  }

  function addTranscript(list) {
    if (!Array.isArray(list) || !list.length) { return; }
    var box = els.transcript;
    var stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80 || !box.children.length;
    var added = false;
    list.forEach(function (m) {
      if (!m || m.id == null || transcriptShown[String(m.id)]) { return; }
      var n = buildMsg(m);
      transcriptShown[String(m.id)] = n;
      // keep ordered by id
      var id = Number(m.id);
      var ref = null;
      for (var i = box.children.length - 1; i >= 0; i--) {
        if (Number(box.children[i].getAttribute("data-id")) < id) { ref = box.children[i].nextSibling; break; }
        ref = box.children[i];
      }
      box.insertBefore(n, ref);
      added = true;
    });
    if (added && stick) { box.scrollTop = box.scrollHeight; }
  }

  function renderTools(t) {
    var mine = t.status === "claimed" && isMine(t);
    els.claimedTools.hidden = !mine;
    var note = "";
    if (t.status === "waiting") { note = "认领后即可回复群众并结束咨询。"; }
    else if (t.status === "claimed" && !mine) { note = "该咨询已由 " + (t.lawyer || "其他律师") + " 认领，您只能查看。"; }
    else if (t.status === "resolved") { note = "该咨询已结束。"; }
    else if (t.status === "expired") { note = "该咨询已过期关闭。"; }
    els.readonly.textContent = note;
    els.readonly.hidden = !note;
  }

  // ---------- reply ----------
  els.replyForm.addEventListener("submit", function (e) {
    e.preventDefault();
    sendReply();
  });
  els.replyText.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) {
      e.preventDefault();
      sendReply();
    }
  });

  function sendReply() {
    if (currentId == null || els.replySend.disabled) { return; }
    var text = els.replyText.value;
    if (!text.trim()) {
      showError("回复内容不能为空");
      return;
    }
    var id = currentId;
    clearError();
    els.replySend.disabled = true;
    api("POST", "/api/console/tickets/" + encodeURIComponent(id) + "/reply", { text: text })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        if (String(id) === String(currentId)) {
          if (els.replyText.value === text) { els.replyText.value = ""; }
          if (res.data && res.data.id != null) { addTranscript([res.data]); }
          els.transcript.scrollTop = els.transcript.scrollHeight;
        }
      }, function (err) { showError(err.message); })
      .then(function () { els.replySend.disabled = false; });
  }

  // ---------- resolve ----------
  els.resolveForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (currentId == null || els.resolve.disabled) { return; }
    var id = currentId;
    clearError();
    els.resolve.disabled = true;
    api("POST", "/api/console/tickets/" + encodeURIComponent(id) + "/resolve",
      { outcome: els.outcome.value, summary: els.summary.value })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        if (String(id) === String(currentId)) {
          els.summary.value = "";
          if (res.data && res.data.id != null) {
            currentTicket = res.data;
            renderTicketHeader(res.data);
            renderTools(res.data);
          }
          loadTicket();
        }
        loadQueue();
      }, function (err) { showError(err.message); })
      .then(function () { els.resolve.disabled = false; });
  });

  // ---------- start ----------
  function init() {
    api("GET", "/api/console/me")
      .then(function (res) {
        if (res.ok && res.data) {
          me = res.data;
          showApp();
        } else if (res.status === 401) {
          showLogin();
        } else {
          showLogin();
          showError(detailOf(res));
        }
      }, function (err) {
        showLogin();
        showError(err.message);
      });
  }

  init();
})();
