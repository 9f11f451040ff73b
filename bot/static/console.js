/* legalbot — lawyer console (律师工作台). Plain browser JS, no dependencies.
 * SECURITY: server data is only ever rendered with textContent / createTextNode, never innerHTML. */
(function () {
  "use strict";

  var QUEUE_POLL_MS = 3000;
  var TICKET_POLL_MS = 2000;
  var NOTES_EVERY = 3;          // ticket polls between notes refreshes
  var LAWYERS_EVERY = 5;        // queue polls between roster refreshes
  var AUDIT_POLL_MS = 10000;
  var WINDOW_WARN_MS = 3600 * 1000;

  // ---------- labels ----------
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
    expired: "已过期",
    cancelled: "已取消"
  };
  var CHANNELS = { web: "网页", telegram: "Telegram", wechat: "微信公众号", cli: "命令行" };
  var LANGUAGES = { zh: "中文", en: "English" };
  var SENDERS = { citizen: "群众", bot: "智能助手", lawyer: "律师", system: "系统" };
  var ROLES = { lawyer: "律师", admin: "管理员", maintainer: "维护人员", manager: "管理人员", office: "办理机构" };
  var OUTCOMES = {
    answered: "智能助手已解答",
    resolved_by_lawyer: "已解答",
    referred: "已转介",
    emergency_referred: "紧急转介",
    out_of_scope: "不属于法律问题",
    abandoned: "群众离开",
    withdrawn: "群众取消"
  };
  var HANDOFF_REASONS = {
    urgent: "紧急情况",
    asked_for_human: "群众要求人工",
    complex: "情况复杂",
    unclear_after_clarifying: "追问后仍无法判断",
    none_fit: "推荐的答案都不合适",
    no_entry: "知识库没有相关解答",
    transfer: "同事转交",
    reopened: "群众就同一事项再次来询"
  };
  var TRIAGE_REASONS = {
    domestic_violence: "家庭暴力",
    threat_to_life: "人身威胁",
    self_harm: "自伤风险",
    child_in_danger: "儿童危险",
    just_detained: "刚被羁押",
    imminent_deadline: "期限紧迫",
    wage_crowd: "群体讨薪",
    eviction_today: "即将被驱逐/强拆",
    injury_now: "正在受伤/拒绝救治",
    elder_abuse: "老人受虐/遗弃",
    held_captive: "被限制人身自由",
    stalking: "跟踪威胁",
    extortion: "正在被敲诈",
    proceedings_under_way: "已进入诉讼/仲裁",
    asks_for_lawyer: "要求律师",
    amount_above_limit: "金额较大",
    several_issues: "多个问题",
    learned: "模型判断紧急"
  };
  var FACT_GROUPS = [["amounts", "金额"], ["dates", "日期"], ["places", "地点"], ["parties", "当事人"]];
  var FACT_KEYS = {
    amount: "金额", money: "金额", date: "日期", time: "时间", duration: "时长",
    location: "地点", place: "地点", city: "城市", age: "年龄", party: "当事人",
    employer: "用人单位", injury: "伤情", relation: "关系", relationship: "关系"
  };
  var ACTIONS = {
    login: "登录",
    login_failed: "登录失败（密码错误）",
    login_locked: "登录失败次数过多，已锁定",
    claim: "认领",
    reply: "回复",
    note: "添加备注",
    transfer: "转交",
    resolve: "结案",
    escalated: "等待超时",
    reminded: "提醒回复",
    released_offline: "离线释放",
    telegram_linked: "绑定 Telegram",
    telegram_unlinked: "解除 Telegram 绑定",
    ticket_viewed: "查看工单",
    password_changed: "修改密码",
    deactivated: "停用账号",
    activated: "启用账号",
    sessions_ended: "结束登录会话"
  };
  var QUEUE_GROUPS = [
    { key: "waiting", label: "待认领" },
    { key: "mine", label: "我处理中" },
    { key: "others", label: "同事处理中" },
    { key: "snoozed", label: "稍后处理" },
    { key: "closed", label: "已结束" }
  ];
  var TO_QUEUE = "__queue__";

  function has(map, key) { return Object.prototype.hasOwnProperty.call(map, key); }
  function lookup(map, key) {
    if (key == null || key === "") { return ""; }
    return has(map, key) ? map[key] : String(key);
  }

  // ---------- DOM ----------
  function $(id) { return document.getElementById(id); }
  var els = {
    loginView: $("login-view"), appView: $("app-view"), auditView: $("audit-view"),
    tabs: $("console-tabs"), workTab: $("work-tab"), auditTab: $("audit-tab"),
    statsTab: $("stats-tab"), statsView: $("stats-view"),
    loginForm: $("login-form"), username: $("username"), password: $("password"),
    login: $("login"), loginError: $("login-error"),
    userBox: $("user-box"), userName: $("user-name"), logout: $("logout"),
    tgLink: $("telegram-link"), tgPanel: $("telegram-panel"), tgCommand: $("telegram-command"),
    tgMinutes: $("telegram-minutes"), tgClose: $("telegram-close"),
    error: $("console-error"), errorText: $("console-error-text"), errorClose: $("console-error-close"),
    queue: $("queue"), queueCount: $("queue-count"), queueEmpty: $("queue-empty"),
    placeholder: $("ticket-placeholder"), ticketView: $("ticket-view"),
    ticketHeading: $("ticket-heading"), ticketMeta: $("ticket-meta"), ticketClaim: $("ticket-claim"),
    alerts: $("ticket-alerts"),
    packet: $("packet"), transcript: $("transcript"), readonly: $("ticket-readonly"),
    replyWindow: $("reply-window"), rwClock: $("reply-window-clock"), rwQuota: $("reply-window-quota"),
    rwNote: $("reply-window-note"),
    replyForm: $("reply-form"), replyText: $("reply-text"), replySend: $("reply-send"),
    replyBlocked: $("reply-blocked"), cannedOpen: $("canned-open"),
    notes: $("notes"), notesEmpty: $("notes-empty"), noteForm: $("note-form"),
    noteText: $("note-text"), noteAdd: $("note-add"),
    manageTools: $("manage-tools"), ownerActions: $("owner-actions"), gotoResolve: $("goto-resolve"),
    transferTo: $("transfer-to"), transfer: $("transfer"), transferHint: $("transfer-hint"),
    resolveForm: $("resolve-form"), outcome: $("outcome"), summary: $("summary"), resolve: $("resolve"),
    needless: $("needless"),
    auditBody: $("audit-body"), auditEmpty: $("audit-empty"), auditCount: $("audit-count"),
    auditFilter: $("audit-filter"), auditRefresh: $("audit-refresh")
  };

  function el(tag, className, text) {
    var n = document.createElement(tag);
    if (className) { n.className = className; }
    if (text != null) { n.textContent = String(text); }
    return n;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function safeClass(s) { return String(s == null ? "" : s).replace(/[^a-z0-9_-]/gi, ""); }

  // ---------- state ----------
  var me = null;
  var queueTimer = null, ticketTimer = null, windowTimer = null, auditTimer = null;
  var queueBusy = false, ticketBusy = false, auditBusy = false;
  var queuePolls = 0, ticketPolls = 0;
  var rows = Object.create(null);       // ticket id -> {el, sig}
  var groupHeads = Object.create(null); // group key -> header element
  var currentId = null;
  var currentTicket = null;
  var currentPacket = null;
  var transcriptShown = Object.create(null);
  var faqAnswers = [];                  // [{id, text}] bot messages that carried an FAQ answer
  var packetSig = null, notesSig = null;
  var lawyers = [];
  var auditEntries = [];
  var activeTab = "work";
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
  // The session's CSRF token, from /login and /me: every request that changes something sends it back.
  var csrfToken = null;
  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    };
    if (method !== "GET" && csrfToken) { opts.headers["X-CSRF-Token"] = csrfToken; }
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (txt) {
        var data = null;
        if (txt) { try { data = JSON.parse(txt); } catch (e) { data = { detail: txt.slice(0, 300) }; } }
        if (r.ok && data && typeof data.csrf_token === "string") { csrfToken = data.csrf_token; }
        if (r.status === 401) { csrfToken = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    }, function () {
      var err = new Error("无法连接服务器，请检查网络后重试");
      err.network = true;
      throw err;
    });
  }
  function ticketUrl(id, tail) {
    return "/api/console/tickets/" + encodeURIComponent(id) + (tail ? "/" + tail : "");
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
  function pad(n) { return String(n).padStart(2, "0"); }
  function parseTime(iso) {
    if (!iso) { return null; }
    var s = String(iso);
    // the server speaks UTC; a timestamp without a zone is UTC too
    if (/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(s)) { s += "Z"; }
    var d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }
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
    var d = parseTime(iso);
    if (!d) { return iso ? String(iso) : ""; }
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function fmtDateTime(iso) {
    var d = parseTime(iso);
    if (!d) { return iso ? String(iso) : ""; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function fmtClock(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return pad(h) + ":" + pad(m) + ":" + pad(s);
  }
  function isMine(ticket) {
    if (!me || !ticket || !ticket.lawyer) { return false; }
    return ticket.lawyer === me.username;
  }
  function lawyerName(username) {
    if (!username) { return ""; }
    for (var i = 0; i < lawyers.length; i++) {
      if (lawyers[i].username === username) {
        var d = lawyers[i].display_name;
        return d && d !== username ? d + "（" + username + "）" : username;
      }
    }
    return username;
  }

  function tag(cls, text, title) {
    var n = el("span", "tag " + cls, text);
    if (title) { n.title = title; }
    return n;
  }
  function statusTag(status) {
    return tag("tag-status status-" + safeClass(status), lookup(STATUSES, status));
  }
  function channelBadge(channel) {
    return tag("tag-channel channel-" + safeClass(channel), lookup(CHANNELS, channel), "渠道");
  }
  function languageBadge(lang) {
    var code = lang || "zh";
    return tag("tag-lang" + (code === "zh" ? "" : " tag-lang-foreign"), lookup(LANGUAGES, code), "群众使用的语言");
  }

  // ---------- views ----------
  function showLogin() {
    els.appView.hidden = true;
    $("apps-view").hidden = true;
    els.auditView.hidden = true;
    els.statsView.hidden = true;
    els.tabs.hidden = true;
    els.userBox.hidden = true;
    els.loginView.hidden = false;
    els.login.disabled = false;
    setTimeout(function () { els.username.focus(); }, 0);
  }

  function showApp() {
    els.loginView.hidden = true;
    els.userBox.hidden = false;
    var name = me.display_name || me.username || "";
    var role = me.role ? " · " + lookup(ROLES, me.role) : "";
    els.userName.textContent = name + (me.username && me.username !== name ? "（" + me.username + "）" : "") + role;
    var admin = me.role === "admin";
    var office = me.role === "office";
    var manager = me.role === "manager";
    els.tabs.hidden = office;
    els.auditTab.hidden = !admin;
    $("mine-tab").hidden = office || manager;
    appEls.tab.hidden = !admin;
    els.workTab.hidden = manager;
    els.statsTab.hidden = !(admin || manager);
    document.querySelector(".console-title").firstChild.textContent =
      office ? "申请办理 " : manager ? "服务统计 " : "律师工作台 ";
    if (office && me.office_name) { els.userName.textContent += " · " + me.office_name; }
    renderTelegram();
    if (office) {   // office staff: their applications only, never the lawyers' queue or citizens' chats
      switchTab("apps");
      return;
    }
    if (manager) {  // managers: the figures only, never a citizen's chat
      switchTab("stats");
      return;
    }
    switchTab("work");
    if (wb) { wb.start(); }
    startQueue();
    loadLawyers();
  }

  // ---------- linking a Telegram account (lawyer mode) ----------
  var tgPoll = null;
  function renderTelegram() {
    var tg = me && me.telegram;
    els.tgLink.hidden = !(tg && tg.available);
    els.tgLink.textContent = tg && tg.linked ? "Telegram 已绑定" : "绑定 Telegram";
    els.tgLink.title = tg && tg.linked ? "点击解除绑定" : "在 Telegram 里接单、和群众交流";
  }
  function closeTelegramPanel() {
    els.tgPanel.hidden = true;
    if (tgPoll) { clearInterval(tgPoll); tgPoll = null; }
  }
  function watchTelegramLink() {
    // The link happens in Telegram: check now and then whether it has, and close the panel when it has.
    if (tgPoll) { clearInterval(tgPoll); }
    tgPoll = setInterval(function () {
      api("GET", "/api/console/me").then(function (res) {
        if (!res.ok || !res.data || !me) { return; }
        me.telegram = res.data.telegram;
        if (me.telegram && me.telegram.linked) { closeTelegramPanel(); renderTelegram(); }
      }, function () { /* offline for a moment: try again next time */ });
    }, 3000);
  }
  els.tgLink.addEventListener("click", function () {
    if (!me || !me.telegram) { return; }
    if (me.telegram.linked) {
      if (!window.confirm("解除 Telegram 绑定？之后在 Telegram 上不会再收到工单和群众消息。")) { return; }
      api("POST", "/api/console/telegram/unlink").then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        me.telegram.linked = false;
        renderTelegram();
      }, function (err) { showError(err.message); });
      return;
    }
    els.tgLink.disabled = true;
    api("POST", "/api/console/telegram/link").then(function (res) {
      if (!res.ok) { handleFailure(res); return; }
      els.tgCommand.textContent = res.data.command;
      els.tgMinutes.textContent = String(res.data.expires_minutes);
      els.tgPanel.hidden = false;
      watchTelegramLink();
    }, function (err) { showError(err.message); })
      .then(function () { els.tgLink.disabled = false; });
  });
  els.tgClose.addEventListener("click", closeTelegramPanel);

  function switchTab(name) {
    if (name === "audit" && !(me && me.role === "admin")) { name = "work"; }
    if (me && me.role === "office") { name = "apps"; }
    if (name === "apps" && !canSeeApps()) { name = "work"; }
    if (me && me.role === "manager") { name = "stats"; }
    if (name === "stats" && !(me && (me.role === "manager" || me.role === "admin"))) { name = "work"; }
    if (name === "mine" && !(me && (me.role === "lawyer" || me.role === "admin"))) { name = "work"; }
    activeTab = name;
    var audit = name === "audit", apps = name === "apps", work = name === "work", stats = name === "stats";
    var mine = name === "mine";
    $("mine-view").hidden = !mine;
    $("mine-tab").classList.toggle("active", mine);
    $("mine-tab").setAttribute("aria-selected", String(mine));
    if (mine && wb) { wb.loadMine(); }
    els.appView.hidden = !work;
    els.auditView.hidden = !audit;
    appEls.view.hidden = !apps;
    els.statsView.hidden = !stats;
    [[els.workTab, work], [els.auditTab, audit], [appEls.tab, apps], [els.statsTab, stats]].forEach(function (pair) {
      pair[0].classList.toggle("active", pair[1]);
      pair[0].setAttribute("aria-selected", String(pair[1]));
    });
    if (auditTimer) { clearInterval(auditTimer); auditTimer = null; }
    if (audit) {
      loadAudit();
      auditTimer = setInterval(loadAudit, AUDIT_POLL_MS);
    }
    if (apps) { startApps(); } else { stopApps(); }
    if (stats && window.LegalbotStats) { window.LegalbotStats.start(); }
  }
  els.workTab.addEventListener("click", function () { switchTab("work"); });
  $("mine-tab").addEventListener("click", function () { switchTab("mine"); });
  els.auditTab.addEventListener("click", function () { switchTab("audit"); });
  els.statsTab.addEventListener("click", function () { switchTab("stats"); });

  function stopAll() {
    if (queueTimer) { clearInterval(queueTimer); queueTimer = null; }
    if (ticketTimer) { clearInterval(ticketTimer); ticketTimer = null; }
    if (auditTimer) { clearInterval(auditTimer); auditTimer = null; }
    stopApps();
    stopWindowClock();
  }

  function resetWorkspace() {
    stopAll();
    if (wb) { wb.stop(); }
    clear(els.queue);
    rows = Object.create(null);
    groupHeads = Object.create(null);
    lawyers = [];
    if (canned) { canned.reset(); }
    auditEntries = [];
    clear(els.auditBody);
    closeTicket();
    resetApps();
  }

  function sessionExpired() {
    var wasIn = !!me;
    me = null;
    closeTelegramPanel();
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
        csrfToken = null;
        closeTelegramPanel();
        clearError();
        resetWorkspace();
        els.loginError.hidden = true;
        showLogin();
      }, function (err) { showError(err.message); })
      .then(function () { els.logout.disabled = false; });
  });

  // ---------- roster and canned replies ----------
  function loadLawyers() {
    if (!me) { return Promise.resolve(); }
    return api("GET", "/api/console/lawyers").then(function (res) {
      if (!res.ok) { if (res.status === 401) { sessionExpired(); } return; }
      lawyers = (res.data && Array.isArray(res.data.lawyers)) ? res.data.lawyers : [];
      renderTransferOptions();
    }, function () { /* the queue poll reports connection problems */ });
  }

  // "/" in the reply box and the 常用回复 button (canned.js), filled in for the open chat.
  var canned = window.LegalbotCanned ? window.LegalbotCanned.attach({
    api: api, el: el, clear: clear, detailOf: detailOf, textarea: els.replyText, button: els.cannedOpen,
    ticket: function () { return currentId; },
    role: function () { return me ? me.role : null; },
    onError: function (msg) { showError(msg); },
    onUnauthorized: function () { sessionExpired(); }
  }) : null;

  // ---------- queue ----------
  function startQueue() {
    if (queueTimer) { clearInterval(queueTimer); }
    queuePolls = 0;
    loadQueue();
    queueTimer = setInterval(loadQueue, QUEUE_POLL_MS);
  }

  var queueAgain = false;
  function loadQueue() {
    if (!me) { return Promise.resolve(); }
    if (queueBusy) { queueAgain = true; return Promise.resolve(); }  // the filters changed mid-request
    queueBusy = true;
    queuePolls++;
    if (queuePolls % LAWYERS_EVERY === 0) { loadLawyers(); }
    var query = wb ? wb.query() : "";
    return api("GET", "/api/console/queue" + query)
      .then(function (res) {
        if (!res.ok) { handleFailure(res, "poll"); return; }
        clearError("poll");
        if (query !== (wb ? wb.query() : "")) { queueAgain = true; return; }
        var list = (res.data && res.data.tickets) || [];
        renderQueue(list);
        if (wb) { wb.onQueue(list, res.data.total == null ? list.length : res.data.total); }
      }, function (err) { showError(err.message + "（正在重试）", "poll"); })
      .then(function () {
        queueBusy = false;
        if (queueAgain) { queueAgain = false; loadQueue(); }
      });
  }

  function groupOf(t) {
    if (t.status === "waiting") { return "waiting"; }
    if (t.status === "claimed" && isMine(t) && t.snoozed_until && !t.snooze_due) { return "snoozed"; }
    if (t.status === "claimed") { return isMine(t) ? "mine" : "others"; }
    return "closed";
  }

  // Danger first, then chats nobody claimed in time, then the rest (handoff/queue.py's order).
  var PRIORITY_RANK = { urgent: 0, overdue: 1, normal: 2 };

  function sortTickets(list) {
    return list.slice().sort(function (a, b) {
      var ra = (a.reminded || a.snooze_due) && isMine(a) ? 0 : 1, rb = (b.reminded || b.snooze_due) && isMine(b) ? 0 : 1;
      if (ra !== rb) { return ra - rb; }
      var pa = PRIORITY_RANK[a.priority] === undefined ? 2 : PRIORITY_RANK[a.priority];
      var pb = PRIORITY_RANK[b.priority] === undefined ? 2 : PRIORITY_RANK[b.priority];
      if (pa !== pb) { return pa - pb; }
      if (!!a.in_danger !== !!b.in_danger) { return a.in_danger ? -1 : 1; }  // someone being hurt first
      var w = (Number(b.waiting_seconds) || 0) - (Number(a.waiting_seconds) || 0);
      if (w !== 0) { return w; }
      return (Number(a.id) || 0) - (Number(b.id) || 0);
    });
  }

  function ticketSig(t) {
    return JSON.stringify([t.status, t.priority, t.service, t.topic, t.summary, t.lawyer, t.channel,
      t.language, !!t.escalated, !!t.reminded, me && me.username, t.labels, t.snoozed_until, !!t.snooze_due,
      t.rating, t.outcome, t.in_danger, t.urgent_reasons]);
  }

  function buildRow(t) {
    // The row opens the ticket on a click anywhere; for the keyboard and screen readers the summary is the
    // button (a row that were a button itself could not hold the 认领 button).
    var row = el("div", "ticket");
    row.setAttribute("data-id", String(t.id));
    row.addEventListener("click", function () { openTicket(t.id); });
    return row;
  }

  function fillRow(row, t) {
    clear(row);
    var urgent = t.priority === "urgent";
    var mine = isMine(t);
    var remind = mine && t.status === "claimed" && !!t.reminded;
    row.classList.toggle("urgent", urgent);
    row.classList.toggle("escalated", !!t.escalated);
    row.classList.toggle("reminded", remind);
    row.classList.toggle("mine", mine);
    row.setAttribute("data-status", String(t.status || ""));
    row.setAttribute("data-priority", String(t.priority || ""));

    var top = el("div", "ticket-top");
    if (urgent) {
      var kinds = (t.urgent_reasons || []).map(function (r) { return lookup(TRIAGE_REASONS, r); }).filter(Boolean);
      top.appendChild(tag("tag-urgent", kinds.length ? "紧急 · " + kinds.slice(0, 2).join("、") : "紧急",
        t.in_danger ? "有人身危险，排在其他紧急咨询之前" : "紧急（无人身危险）"));
    }
    if (t.escalated) { top.appendChild(tag("tag-escalated", "等待超时", "超过时限无人认领，已排在普通咨询之前（紧急情况仍在最前）")); }
    var cls = [lookup(TOPICS, t.topic), lookup(SERVICES, t.service)].filter(Boolean).join(" · ");
    top.appendChild(el("span", "ticket-class", cls || "未分类"));
    top.appendChild(el("span", "ticket-id", "#" + t.id));
    row.appendChild(top);

    var open = el("button", "ticket-summary ticket-open", t.summary || "（无摘要）");
    open.type = "button";
    open.setAttribute("aria-label", "咨询 #" + t.id + "：" + (t.summary || "（无摘要）"));
    row.appendChild(open);
    if ((t.labels && t.labels.length) || t.snoozed_until || t.rating || t.outcome) {
      var extra = el("div", "ticket-extra");
      (t.labels || []).forEach(function (label) { extra.appendChild(el("span", "label-chip small", label)); });
      if (t.snoozed_until && mine) {
        extra.appendChild(tag(t.snooze_due ? "tag-remind" : "tag-snoozed",
          t.snooze_due ? "提醒时间到" : "推迟到 " + fmtTime(t.snoozed_until)));
      }
      if (t.outcome) { extra.appendChild(el("span", "ticket-outcome", lookup(OUTCOMES, t.outcome))); }
      if (t.rating) { extra.appendChild(el("span", "ticket-rating", "★" + t.rating.stars)); }
      row.appendChild(extra);
    }

    var foot = el("div", "ticket-foot");
    foot.appendChild(channelBadge(t.channel));
    foot.appendChild(languageBadge(t.language));
    var wait = el("span", "ticket-wait", t.status === "waiting" ? fmtWait(t.waiting_seconds) : "");
    foot.appendChild(wait);
    if (t.lawyer && !mine) { foot.appendChild(el("span", "ticket-lawyer", lawyerName(t.lawyer))); }
    if (t.status === "waiting") {
      var btn = el("button", "btn btn-primary btn-sm claim", "认领");
      btn.type = "button";
      btn.setAttribute("data-id", String(t.id));
      btn.addEventListener("click", function (e) {
        e.stopPropagation();
        claim(t.id, btn);
      });
      foot.appendChild(btn);
    }
    row.appendChild(foot);
    if (remind) {
      row.appendChild(el("div", "ticket-remind", "提醒：请尽快回复"));
    }
    row._wait = wait;
  }

  function groupHead(key, label, count) {
    var h = groupHeads[key];
    if (!h) {
      h = groupHeads[key] = el("div", "queue-group group-" + key);
      h._label = h.appendChild(el("span", "queue-group-label", label));
      h._count = h.appendChild(el("span", "queue-group-count"));
    }
    h._count.textContent = String(count);
    return h;
  }

  function renderQueue(list) {
    if (!Array.isArray(list)) { list = []; }
    var groups = { waiting: [], mine: [], others: [], snoozed: [], closed: [] };
    list.forEach(function (t) {
      if (t && t.id != null) { groups[groupOf(t)].push(t); }
    });
    var nodes = [];
    var seen = Object.create(null);
    // The open queue is grouped; a search, a filter or another order is shown as the server sorted it.
    var flat = wb && !wb.grouped();
    var parts = flat ? [{ key: "found", items: list.filter(function (t) { return t && t.id != null; }) }] :
      QUEUE_GROUPS.map(function (g) { return { key: g.key, label: g.label, items: sortTickets(groups[g.key]) }; });
    parts.forEach(function (g) {
      var items = g.items;
      if (!items.length) { return; }
      if (!flat) { nodes.push(groupHead(g.key, g.label, items.length)); }
      items.forEach(function (t) {
        var key = String(t.id);
        seen[key] = true;
        var entry = rows[key];
        if (!entry) { entry = rows[key] = { el: buildRow(t), sig: null }; }
        var sig = ticketSig(t);
        if (entry.sig !== sig) {
          fillRow(entry.el, t);
          entry.sig = sig;
        } else if (entry.el._wait) {
          entry.el._wait.textContent = t.status === "waiting" ? fmtWait(t.waiting_seconds) : "";
        }
        entry.el.classList.toggle("active", String(currentId) === key);
        nodes.push(entry.el);
      });
    });

    // only move nodes when the order actually changes (avoids eating clicks)
    nodes.forEach(function (n, i) {
      if (els.queue.children[i] !== n) { els.queue.insertBefore(n, els.queue.children[i] || null); }
    });
    while (els.queue.children.length > nodes.length) {
      els.queue.removeChild(els.queue.lastChild);
    }
    Object.keys(rows).forEach(function (key) { if (!seen[key]) { delete rows[key]; } });

    var waiting = groups.waiting.length;
    els.queueEmpty.hidden = nodes.length > 0;
    els.queueCount.textContent = waiting ? waiting + " 个待认领" : "";
    els.queueCount.hidden = !waiting;
    document.title = (waiting ? "(" + waiting + ") " : "") + "律师工作台 · 12348 公共法律服务";
  }

  function claim(id, btn) {
    clearError();
    if (btn) { btn.disabled = true; }
    return api("POST", ticketUrl(id, "claim"))
      .then(function (res) {
        if (!res.ok) {
          handleFailure(res);
          if (btn) { btn.disabled = false; }
          loadQueue();
          if (String(currentId) === String(id)) { loadTicket(); }
          return;
        }
        loadQueue();
        loadLawyers();
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
    stopWindowClock();
    currentId = null;
    currentTicket = null;
    currentPacket = null;
    packetSig = null;
    notesSig = null;
    faqAnswers = [];
    transcriptShown = Object.create(null);
    clear(els.transcript);
    clear(els.packet);
    clear(els.notes);
    clear(els.alerts);
    els.replyWindow.hidden = true;
    els.ticketView.hidden = true;
    els.placeholder.hidden = false;
  }

  function openTicket(id) {
    if (activeTab !== "work") { switchTab("work"); }
    if (String(currentId) === String(id)) { loadTicket(); return; }
    closeTicket();
    currentId = id;
    els.placeholder.hidden = true;
    els.ticketView.hidden = false;
    els.ticketHeading.textContent = "咨询 #" + id;
    clear(els.ticketMeta);
    els.ticketMeta.appendChild(el("span", "muted", "加载中…"));
    els.replyForm.hidden = true;
    els.manageTools.hidden = true;
    els.ownerActions.hidden = true;
    els.readonly.hidden = true;
    els.ticketClaim.hidden = true;
    els.replyText.value = "";
    els.noteText.value = "";
    els.summary.value = "";
    els.outcome.selectedIndex = 0;
    if (wb) { wb.clearTags(); }
    els.transferTo.value = "";
    updateTransferButton();
    els.notesEmpty.hidden = true;
    Object.keys(rows).forEach(function (k) { rows[k].el.classList.toggle("active", k === String(id)); });
    ticketBusy = false;
    ticketPolls = 0;
    loadTicket();
    loadNotes();
    ticketTimer = setInterval(loadTicket, TICKET_POLL_MS);
  }

  function loadTicket() {
    if (currentId == null || ticketBusy) { return Promise.resolve(); }
    var id = currentId;
    ticketBusy = true;
    ticketPolls++;
    if (ticketPolls % NOTES_EVERY === 0) { loadNotes(); }
    return api("GET", ticketUrl(id))
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

  function atBottom(box) {
    return !box.children.length || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function renderTicket(data) {
    var t = data.ticket || {};
    var wasMine = currentTicket && currentTicket.status === "claimed" && isMine(currentTicket);
    var stick = atBottom(els.transcript);
    currentTicket = t;
    currentPacket = data.packet || {};
    renderTicketHeader(t);
    addTranscript(data.messages || []);
    renderPacket(currentPacket, t);
    renderTools(t);
    if (wb) { wb.onTicket(t); }
    renderReplyWindow();
    // showing the composer or the alerts shrinks the transcript: keep the latest message in view
    if (stick) { els.transcript.scrollTop = els.transcript.scrollHeight; }
    if (!wasMine && t.status === "claimed" && isMine(t)) { loadLawyers(); }
  }

  function renderTicketHeader(t) {
    els.ticketHeading.textContent = "咨询 #" + (t.id != null ? t.id : currentId);
    clear(els.ticketMeta);
    if (t.priority === "urgent") { els.ticketMeta.appendChild(tag("tag-urgent", "紧急")); }
    if (t.escalated) { els.ticketMeta.appendChild(tag("tag-escalated", "等待超时")); }
    els.ticketMeta.appendChild(statusTag(t.status));
    if (t.channel) { els.ticketMeta.appendChild(channelBadge(t.channel)); }
    els.ticketMeta.appendChild(languageBadge(t.language));
    var bits = [];
    if (t.created_at) { bits.push("创建 " + fmtTime(t.created_at)); }
    if (t.status === "waiting") { bits.push(fmtWait(t.waiting_seconds)); }
    if (t.lawyer) { bits.push("律师 " + (isMine(t) ? "我" : lawyerName(t.lawyer))); }
    if (t.outcome) { bits.push("结果 " + lookup(OUTCOMES, t.outcome)); }
    els.ticketMeta.appendChild(el("span", "meta-text", bits.join(" · ")));
    els.ticketClaim.hidden = t.status !== "waiting";
    if (t.status === "waiting") { els.ticketClaim.disabled = false; }

    clear(els.alerts);
    if (t.status === "claimed" && isMine(t) && t.reminded) {
      var a = el("div", "alert alert-warn");
      a.appendChild(el("strong", null, "提醒：请尽快回复"));
      a.appendChild(el("span", null, "您认领后已较长时间没有回复，群众仍在等待。"));
      els.alerts.appendChild(a);
    }
    if (t.status === "waiting" && t.escalated) {
      var b = el("div", "alert alert-danger");
      b.appendChild(el("strong", null, "等待超时"));
      b.appendChild(el("span", null, "超过时限无人认领，已排在普通咨询之前，请尽快处理（紧急情况仍在最前）。"));
      els.alerts.appendChild(b);
    }
  }

  // --- packet ---
  function chip(cls, text, title) {
    var n = el("span", "chip " + cls, text);
    if (title) { n.title = title; }
    return n;
  }
  function packetRow(label, content) {
    var row = el("div", "pk-row");
    row.appendChild(el("div", "pk-label", label));
    var v = el("div", "pk-value");
    (Array.isArray(content) ? content : [content]).forEach(function (c) { if (c) { v.appendChild(c); } });
    row.appendChild(v);
    return row;
  }
  // "complex:proceedings_under_way,several_issues" → 情况复杂（已进入诉讼/仲裁、多个问题）: never a code.
  function reasonInWords(reason) {
    var parts = String(reason).split(":");
    var details = (parts[1] || "").split(",").filter(Boolean).map(function (d) { return lookup(TRIAGE_REASONS, d); });
    return lookup(HANDOFF_REASONS, parts[0]) + (details.length ? "（" + details.join("、") + "）" : "");
  }
  function reasonChips(list, cls) {
    return (Array.isArray(list) ? list : []).map(function (r) {
      return chip(cls, lookup(TRIAGE_REASONS, r), String(r));
    });
  }

  function renderPacket(p, t) {
    var sig = JSON.stringify([p, faqAnswers.map(function (a) { return a.id; })]);
    if (sig === packetSig) { return; }
    packetSig = sig;
    clear(els.packet);

    var urgent = reasonChips(p.urgent_reasons, "chip-urgent");
    if (p.urgent && !urgent.length) { urgent = [chip("chip-urgent", "紧急")]; }
    if (p.safety_check === "danger") { urgent.push(chip("chip-urgent", "市民确认“现在有危险”")); }
    var complex = reasonChips(p.complex_reasons, "chip-complex");
    var grid = el("div", "pk-grid");
    grid.appendChild(packetRow("领域", chip("chip-brand", lookup(TOPICS, p.topic || t.topic) || "未分类")));
    grid.appendChild(packetRow("服务", chip("chip-brand", lookup(SERVICES, p.service || t.service) || "—")));
    var reason = p.reason || t.reason;
    if (reason) { grid.appendChild(packetRow("转接原因", el("span", "pk-text", reasonInWords(reason)))); }
    if (urgent.length) { grid.appendChild(packetRow("紧急因素", urgent)); }
    if (complex.length) { grid.appendChild(packetRow("复杂因素", complex)); }
    if (p.reopened_from != null) {
      var again = el("button", "link-button", "接续咨询 #" + p.reopened_from);
      again.type = "button";
      again.addEventListener("click", function () { openTicket(p.reopened_from); });
      var cell = [again];
      if (p.previous_summary) { cell.push(el("span", "pk-text", "上次摘要：" + p.previous_summary)); }
      grid.appendChild(packetRow("再次来询", cell));
    }
    els.packet.appendChild(grid);

    if (p.gist && p.gist !== p.first_message) {
      els.packet.appendChild(el("div", "pk-section", "群众的问题"));
      els.packet.appendChild(el("blockquote", "packet-first", p.gist));
    }
    if (p.first_message) {
      els.packet.appendChild(el("div", "pk-section", "群众首条消息"));
      els.packet.appendChild(el("blockquote", "packet-first", p.first_message));
    }

    els.packet.appendChild(el("div", "pk-section", "关键事实"));
    var facts = p.facts && typeof p.facts === "object" ? p.facts : {};
    var factBox = el("div", "facts");
    var known = Object.create(null);
    var any = false;
    function addFacts(key, label) {
      known[key] = true;
      var v = facts[key];
      var vals = (Array.isArray(v) ? v : (v == null || v === "" ? [] : [v])).map(String).filter(Boolean);
      if (!vals.length) { return; }
      any = true;
      factBox.appendChild(packetRow(label, vals.map(function (x) {
        return chip("chip-fact fact-" + safeClass(key), x);
      })));
    }
    FACT_GROUPS.forEach(function (g) { addFacts(g[0], g[1]); });
    Object.keys(facts).forEach(function (k) { if (!known[k]) { addFacts(k, lookup(FACT_KEYS, k)); } });
    els.packet.appendChild(any ? factBox : el("p", "muted small", "未从对话中提取到金额、日期、地点或当事人"));

    renderBefore(p);

    els.packet.appendChild(el("div", "pk-section", "智能助手已给出的解答"));
    var ids = (Array.isArray(p.faq_shown) ? p.faq_shown : []).map(String);
    var answers = [];
    var seenText = Object.create(null);
    faqAnswers.forEach(function (a) {
      if (!seenText[a.text]) { seenText[a.text] = true; answers.push(a); }
    });
    if (!ids.length && !answers.length) {
      els.packet.appendChild(el("p", "muted small", "无（群众尚未收到问答库解答）"));
      return;
    }
    var paired = ids.length === answers.length;
    var list = el("ol", "faq-list");
    var i;
    for (i = 0; i < ids.length; i++) {
      list.appendChild(faqItem(ids[i], paired ? answers[i] : null));
    }
    if (!paired) {
      for (i = 0; i < answers.length; i++) { list.appendChild(faqItem(null, answers[i])); }
    }
    els.packet.appendChild(list);
  }

  // What the citizen did before this chat: earlier conversations and how they ended, applications, appointments.
  function renderBefore(p) {
    var earlier = Array.isArray(p.earlier) ? p.earlier : [];
    var applications = Array.isArray(p.applications) ? p.applications : [];
    var bookings = Array.isArray(p.bookings) ? p.bookings : [];
    els.packet.appendChild(el("div", "pk-section", "此前的咨询与办事"));
    if (!earlier.length && !applications.length && !bookings.length) {
      els.packet.appendChild(el("p", "muted small", "首次来询，没有此前的咨询、申请或预约"));
      return;
    }
    var list = el("ul", "before-list");
    earlier.forEach(function (c) {
      var li = el("li", "before-item");
      li.appendChild(el("span", "before-date", String(c.opened_at || "").slice(0, 10)));
      li.appendChild(chip("chip-brand", lookup(TOPICS, c.topic) || "未分类"));
      li.appendChild(chip("chip-outcome", c.outcome ? lookup(OUTCOMES, c.outcome) : "进行中"));
      if (c.first_message) { li.appendChild(el("span", "before-text", c.first_message)); }
      list.appendChild(li);
    });
    applications.forEach(function (a) {
      var li = el("li", "before-item");
      li.appendChild(el("code", "before-ref", a.reference || ""));
      li.appendChild(el("span", "before-text", (a.title || a.form || "") + " · " + (a.status_text || a.status || "")));
      list.appendChild(li);
    });
    bookings.forEach(function (b) {
      var li = el("li", "before-item");
      li.appendChild(el("span", "before-date", (b.day || "") + " " + (b.time || "")));
      li.appendChild(el("span", "before-text", "预约 " + (b.centre || "") + (b.status === "cancelled" ? "（已取消）" : "")));
      list.appendChild(li);
    });
    els.packet.appendChild(list);
  }

  function faqItem(id, answer) {
    var li = el("li", "faq-item");
    var head = el("div", "faq-head");
    if (id) { head.appendChild(el("code", "faq-id", id)); }
    if (answer) {
      var go = el("button", "link-btn", "在对话中查看");
      go.type = "button";
      go.addEventListener("click", function () { jumpToMessage(answer.id); });
      head.appendChild(go);
    }
    li.appendChild(head);
    if (answer) {
      var first = String(answer.text).split(/\n+/).filter(function (s) { return s.trim(); })[0] || "";
      li.appendChild(el("div", "faq-excerpt", first));
    }
    return li;
  }

  function jumpToMessage(id) {
    var n = transcriptShown[String(id)];
    if (!n) { return; }
    n.scrollIntoView({ block: "center", behavior: "smooth" });
    n.classList.remove("flash");
    void n.offsetWidth;
    n.classList.add("flash");
  }

  // --- transcript ---
  function isFaqAnswer(m) {
    return m.sender === "bot" && Array.isArray(m.buttons) && m.buttons.some(function (b) {
      return b && b.payload === "/helpful";
    });
  }

  function buildMsg(m) {
    var sender = String(m.sender || (m.direction === "in" ? "citizen" : "bot"));
    var n = el("div", "msg msg-" + (m.direction === "in" ? "in" : "out") + " msg-" + safeClass(sender));
    n.setAttribute("data-sender", sender);
    n.setAttribute("data-id", String(m.id));
    var label = el("div", "msg-label", lookup(SENDERS, sender));
    if (isFaqAnswer(m)) {
      n.classList.add("msg-faq");
      label.appendChild(el("span", "msg-tag", "问答库解答"));
    }
    if (m.kind === "button") {
      // the citizen pressed a button (or typed its number): the text is the button's label
      n.setAttribute("data-kind", "button");
      label.appendChild(el("span", "msg-tag msg-tag-button", "按钮"));
    }
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
    var stick = atBottom(box);
    var added = false;
    list.forEach(function (m) {
      if (!m || m.id == null || transcriptShown[String(m.id)]) { return; }
      var n = buildMsg(m);
      transcriptShown[String(m.id)] = n;
      if (isFaqAnswer(m)) {
        faqAnswers.push({ id: m.id, text: m.text == null ? "" : String(m.text) });
        faqAnswers.sort(function (a, b) { return Number(a.id) - Number(b.id); });
      }
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
    els.replyForm.hidden = !mine;
    els.manageTools.hidden = !mine;
    els.ownerActions.hidden = !mine;
    var note = "";
    if (t.status === "waiting") { note = "认领后即可回复群众、转交或结束咨询。"; }
    else if (t.status === "claimed" && !mine) { note = "该咨询由 " + (lawyerName(t.lawyer) || "其他律师") + " 处理中，您只能查看。"; }
    else if (t.status === "resolved") { note = "该咨询已结束" + (t.outcome ? "（" + lookup(OUTCOMES, t.outcome) + "）" : "") + "。"; }
    else if (t.status === "expired") { note = "该咨询已过期关闭。"; }
    else if (t.status === "cancelled") { note = "群众已取消转接。"; }
    els.readonly.textContent = note;
    els.readonly.hidden = !note;
  }

  // ---------- WeChat reply window ----------
  function windowState() {
    var rw = currentTicket && currentTicket.reply_window;
    if (!rw || typeof rw !== "object") { return null; }
    var exp = parseTime(rw.expires_at);
    var remaining = rw.remaining == null ? null : Number(rw.remaining);
    if (!exp) {
      return { closed: true, left: null, remaining: remaining,
        why: "该群众没有可用的微信回复窗口（从未给公众号留言，或已取消关注），消息无法送达。可通过12348电话联系。" };
    }
    var left = exp.getTime() - Date.now();
    if (left <= 0) {
      return { closed: true, left: 0, remaining: remaining,
        why: "距群众最后一条消息已超过微信规定的时限，微信不再允许发送客服消息。请等群众再次留言，或通过12348电话联系。" };
    }
    if (remaining === 0) {
      return { closed: true, left: left, remaining: 0,
        why: "本窗口内可发送的客服消息条数已用完，微信不允许再发。请等群众再次留言后继续回复。" };
    }
    return { closed: false, left: left, remaining: remaining, warn: left < WINDOW_WARN_MS };
  }

  function renderReplyWindow() {
    var st = windowState();
    if (!st) {
      els.replyWindow.hidden = true;
      stopWindowClock();
      applyReplyBlock(null);
      return;
    }
    els.replyWindow.hidden = false;
    els.replyWindow.classList.toggle("rw-warn", !!st.warn);
    els.replyWindow.classList.toggle("rw-closed", st.closed);
    els.replyWindow.setAttribute("data-state", st.closed ? "closed" : (st.warn ? "warn" : "open"));
    if (st.closed) {
      els.rwClock.textContent = "已关闭";
    } else {
      els.rwClock.textContent = "剩余 " + fmtClock(st.left);
    }
    els.rwQuota.textContent = st.remaining == null ? "" :
      (st.remaining > 0 ? "还可发送 " + st.remaining + " 条" : "可发送条数已用完");
    els.rwQuota.hidden = st.remaining == null || st.closed;
    els.rwNote.textContent = st.closed ? st.why : (st.warn ? "窗口不足 1 小时，请尽快回复" : "");
    els.rwNote.hidden = !els.rwNote.textContent;
    applyReplyBlock(st.closed ? st : null);
    if (st.closed || !st.left) { stopWindowClock(); } else { startWindowClock(); }
  }

  function applyReplyBlock(st) {
    var blocked = !!st;
    els.replyForm.classList.toggle("blocked", blocked);
    els.replyBlocked.textContent = blocked ? "微信回复窗口已关闭，无法发送" : "";
    els.replyBlocked.hidden = !blocked;
    els.replySend.disabled = blocked || els.replySend._sending === true;
    els.replySend.title = blocked ? st.why : "";
  }

  function startWindowClock() {
    if (windowTimer) { return; }
    windowTimer = setInterval(renderReplyWindow, 1000);
  }
  function stopWindowClock() {
    if (windowTimer) { clearInterval(windowTimer); windowTimer = null; }
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
    if (currentId == null) { return; }
    var st = windowState();
    if (st && st.closed) { showError(st.why); return; }
    if (els.replySend.disabled) { return; }
    var text = els.replyText.value;
    if (!text.trim()) {
      showError("回复内容不能为空");
      return;
    }
    var id = currentId;
    clearError();
    els.replySend._sending = true;
    els.replySend.disabled = true;
    api("POST", ticketUrl(id, "reply"), { text: text })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        if (String(id) === String(currentId)) {
          if (els.replyText.value === text) { els.replyText.value = ""; }
          if (res.data && res.data.id != null) { addTranscript([res.data]); }
          els.transcript.scrollTop = els.transcript.scrollHeight;
          loadTicket();
        }
      }, function (err) { showError(err.message); })
      .then(function () {
        els.replySend._sending = false;
        var s = windowState();
        applyReplyBlock(s && s.closed ? s : null);
      });
  }

  // ---------- private notes ----------
  function loadNotes() {
    if (currentId == null) { return Promise.resolve(); }
    var id = currentId;
    return api("GET", ticketUrl(id, "notes")).then(function (res) {
      if (String(id) !== String(currentId)) { return; }
      if (!res.ok) { if (res.status === 401) { sessionExpired(); } return; }
      renderNotes((res.data && res.data.notes) || []);
    }, function () { /* the ticket poll reports connection problems */ });
  }

  function renderNotes(list) {
    if (!Array.isArray(list)) { list = []; }
    var sig = JSON.stringify(list);
    if (sig === notesSig) { return; }
    notesSig = sig;
    clear(els.notes);
    list.forEach(function (n) {
      if (!n) { return; }
      var li = el("li", "note");
      li.setAttribute("data-id", String(n.id));
      var meta = el("div", "note-meta");
      meta.appendChild(el("span", "note-author", n.author || "律师"));
      meta.appendChild(el("time", "note-time", fmtTime(n.created_at)));
      li.appendChild(meta);
      li.appendChild(el("div", "note-text", n.text == null ? "" : n.text));
      els.notes.appendChild(li);
    });
    els.notesEmpty.hidden = list.length > 0;
    els.notes.scrollTop = els.notes.scrollHeight;
  }

  els.noteForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (currentId == null || els.noteAdd.disabled) { return; }
    var text = els.noteText.value;
    if (!text.trim()) { showError("备注内容不能为空"); return; }
    var id = currentId;
    clearError();
    els.noteAdd.disabled = true;
    api("POST", ticketUrl(id, "notes"), { text: text })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        if (String(id) === String(currentId)) {
          if (els.noteText.value === text) { els.noteText.value = ""; }
          loadNotes();
        }
      }, function (err) { showError(err.message); })
      .then(function () { els.noteAdd.disabled = false; });
  });
  els.noteText.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) {
      e.preventDefault();
      els.noteForm.requestSubmit ? els.noteForm.requestSubmit() : els.noteAdd.click();
    }
  });

  // ---------- transfer ----------
  function renderTransferOptions() {
    var sel = els.transferTo;
    var previous = sel.value;
    while (sel.children.length > 1) { sel.removeChild(sel.lastChild); }
    var back = el("option", null, "退回队列（由其他律师认领）");
    back.value = TO_QUEUE;
    sel.appendChild(back);
    var online = lawyers.filter(function (l) {
      return l && l.online && me && l.username !== me.username;
    });
    if (online.length) {
      var group = el("optgroup");
      group.label = "在线同事";
      online.forEach(function (l) {
        var name = l.display_name && l.display_name !== l.username ? l.display_name + "（" + l.username + "）" : l.username;
        var topics = Array.isArray(l.topics) && l.topics.length ?
          " · " + l.topics.map(function (x) { return lookup(TOPICS, x); }).join("、") : "";
        var o = el("option", null, name + topics);
        o.value = l.username;
        group.appendChild(o);
      });
      sel.appendChild(group);
    }
    var values = Array.prototype.map.call(sel.options, function (o) { return o.value; });
    sel.value = values.indexOf(previous) >= 0 ? previous : "";
    sel.options[0].textContent = online.length ? "转交给…" : "转交给…（暂无在线同事）";
    var hint = online.length ?
      "只列出在线的同事。转交后您将不能再回复此咨询。" :
      "暂无其他在线同事，可退回队列由其他律师认领。";
    els.transferHint.textContent = hint;
    sel.title = hint;
    updateTransferButton();
  }

  function updateTransferButton() {
    els.transfer.disabled = !els.transferTo.value;
  }
  els.transferTo.addEventListener("change", updateTransferButton);
  els.transferTo.addEventListener("focus", function () { loadLawyers(); });

  els.transfer.addEventListener("click", function () {
    if (currentId == null || !els.transferTo.value) { return; }
    var value = els.transferTo.value;
    var to = value === TO_QUEUE ? null : value;
    var id = currentId;
    var question = to ?
      "确定将咨询 #" + id + " 转交给 " + lawyerName(to) + " 吗？\n转交后由对方继续处理，您将不能再回复。" :
      "确定将咨询 #" + id + " 退回队列吗？\n退回后由其他律师重新认领，您将不能再回复。";
    if (!window.confirm(question)) { return; }
    clearError();
    els.transfer.disabled = true;
    api("POST", ticketUrl(id, "transfer"), { to: to })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        els.transferTo.value = "";
        if (String(id) === String(currentId) && res.data && res.data.id != null) {
          currentTicket = res.data;
          renderTicketHeader(res.data);
          renderTools(res.data);
          renderReplyWindow();
        }
        loadTicket();
        loadQueue();
      }, function (err) { showError(err.message); })
      .then(updateTransferButton);
  });

  // ---------- resolve ----------
  els.gotoResolve.addEventListener("click", function () {
    els.manageTools.scrollIntoView({ block: "nearest", behavior: "smooth" });
    els.summary.focus({ preventScroll: true });
  });

  els.resolveForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (currentId == null || els.resolve.disabled) { return; }
    var id = currentId;
    clearError();
    if (wb && wb.summaryProblem(els.summary.value)) { els.summary.focus(); return; }
    els.resolve.disabled = true;
    api("POST", ticketUrl(id, "resolve"), { outcome: els.outcome.value, summary: els.summary.value,
                                            needless: els.needless.checked, tags: wb ? wb.tags() : [] })
      .then(function (res) {
        if (!res.ok) { handleFailure(res); return; }
        if (String(id) === String(currentId)) {
          els.summary.value = "";
          els.needless.checked = false;
          if (wb) { wb.clearTags(); }
          if (res.data && res.data.id != null) {
            currentTicket = res.data;
            renderTicketHeader(res.data);
            renderTools(res.data);
            renderReplyWindow();
          }
          loadTicket();
        }
        loadQueue();
      }, function (err) { showError(err.message); })
      .then(function () { els.resolve.disabled = false; });
  });

  // ---------- applications (back offices) ----------
  // Office accounts handle their office's applications here and see nothing else; admins switch to it
  // with the 申请 tab. The server says which steps the status allows; each step tells the citizen.
  var APPS_POLL_MS = 10000;
  var STEP_LABELS = {
    accept: "受理",
    ask_materials: "要求补充材料",
    schedule: "预约",
    transfer: "转办",
    refuse: "不予受理",
    lapse: "视为撤回",
    complete: "办结",
    note: "备注"
  };
  // what each step asks for: fields shown, what the text box means, whether it is required
  var STEP_FORMS = {
    accept: { text: "告知申请人（可不填，默认：办理机构会尽快与您联系）", hint: "申请人会收到受理通知和受理编号。" },
    ask_materials: { checklist: true, text: "补充说明（可不填）", hint: "申请人会收到这份材料清单，可以在对话里发送照片或带到窗口。" },
    schedule: { when: true, text: "告知申请人（可不填，默认：请按时带身份证件前往）", hint: "申请人会收到预约的时间和地点。" },
    transfer: { office: true, text: "告知申请人（可不填）", hint: "申请会交给所选机构，重新计算办理时限；本机构之后看不到这份申请。" },
    refuse: { text: "不予受理的理由（必填，会告知申请人）", required: true, hint: "申请人会收到理由和异议途径。" },
    lapse: { text: "", noText: true, hint: "申请人未按要求补充材料：按撤回处理，申请人会收到通知。" },
    complete: { result: true, text: "告知申请人（可不填）", hint: "申请人会收到办理结果，并可以评价。" },
    note: { text: "备注内容（仅内部可见，申请人看不到）", required: true, hint: "备注只记在办理记录里，不告诉申请人。" }
  };
  var STEP_ORDER = ["accept", "ask_materials", "schedule", "transfer", "complete", "refuse", "lapse", "note"];
  var CN_DIGITS = "零一二三四五六七八九";

  var appEls = {
    view: $("apps-view"), tab: $("apps-tab"), list: $("apps-list"), empty: $("apps-empty"), count: $("apps-count"),
    status: $("apps-status"), office: $("apps-office"), officeFilter: $("apps-office-filter"),
    placeholder: $("app-placeholder"), detail: $("application"), heading: $("app-heading"), meta: $("app-meta"),
    alerts: $("app-alerts"), answers: $("app-answers"), screeningCard: $("app-screening-card"),
    screening: $("app-screening"), bookingsCard: $("app-bookings-card"), bookings: $("app-bookings"), filesCard: $("app-files-card"), files: $("app-files"),
    timeline: $("app-timeline"), sla: $("app-sla"), steps: $("app-steps"), noSteps: $("app-no-steps"),
    form: $("step-form"), formTitle: $("step-title"), formHint: $("step-hint"),
    checklistField: $("step-checklist-field"), checklist: $("step-checklist"),
    whenField: $("step-when-field"), when: $("step-when"),
    officeField: $("step-office-field"), stepOffice: $("step-office"),
    resultField: $("step-result-field"), result: $("step-result"),
    textField: $("step-text-field"), textLabel: $("step-text-label"), text: $("step-text"),
    formError: $("step-error"), cancel: $("step-cancel"), submit: $("step-submit")
  };
  var appsTimer = null, appsBusy = false, appBusy = false;
  var currentApp = null, currentAppId = null, openStep = null, stepsSig = null, appsSig = null;

  function isOffice() { return !!me && me.role === "office"; }
  function canSeeApps() { return !!me && (me.role === "office" || me.role === "admin"); }
  function appUrl(id, tail) {
    return "/api/console/applications/" + encodeURIComponent(id) + (tail ? "/" + tail : "");
  }

  function chineseNumber(n) {
    n = Math.floor(Number(n));
    if (!(n > 0 && n < 1000)) { return String(n); }
    var hundreds = Math.floor(n / 100), tens = Math.floor((n % 100) / 10), ones = n % 10, out = "";
    if (hundreds) { out += CN_DIGITS[hundreds] + "百"; }
    if (tens) { out += (tens === 1 && !hundreds ? "" : CN_DIGITS[tens]) + "十"; }
    else if (hundreds && ones) { out += "零"; }
    if (ones) { out += CN_DIGITS[ones]; }
    return out;
  }
  function basisText(b) {
    if (!b) { return ""; }
    if (typeof b === "string") { return b; }
    return (b.law || "") + (b.article != null ? "第" + chineseNumber(b.article) + "条" : "");
  }

  // "3 天后到期", "今天到期", "已超期 2 天"
  function dueText(a) {
    var due = parseTime(a.due_at);
    if (!due) { return ""; }
    var ms = due.getTime() - Date.now();
    var day = 24 * 3600 * 1000;
    if (a.overdue || ms < 0) {
      var late = Math.floor(-ms / day);
      return late >= 1 ? "已超期 " + late + " 天" : "已超期";
    }
    var days = Math.ceil(ms / day);
    return days <= 1 ? (ms < 12 * 3600 * 1000 ? "今天到期" : "1 天内到期") : days + " 天后到期";
  }

  function appTags(a) {
    var out = [];
    if (a.overdue) { out.push(tag("tag-overdue", "已超期", "超过办理时限")); }
    else if (a.escalated) { out.push(tag("tag-escalated", "已催办")); }
    if (a.poor_rating) { out.push(tag("tag-poor", "差评 " + (a.rating_name || a.rating), "申请人评价：" + (a.rating_name || a.rating))); }
    return out;
  }

  // --- list ---
  function startApps() {
    if (appsTimer) { clearInterval(appsTimer); }
    loadApps();
    appsTimer = setInterval(function () {
      loadApps();
      if (currentAppId != null && !openStep) { loadApp(); }
    }, APPS_POLL_MS);
  }
  function stopApps() {
    if (appsTimer) { clearInterval(appsTimer); appsTimer = null; }
  }

  function loadApps() {
    if (appsBusy || !canSeeApps()) { return Promise.resolve(); }
    appsBusy = true;
    var url = "/api/console/applications?status=" + encodeURIComponent(appEls.status.value || "open");
    if (!isOffice() && appEls.office.value) { url += "&office=" + encodeURIComponent(appEls.office.value); }
    return api("GET", url)
      .then(function (res) {
        if (!res.ok) { handleFailure(res, "apps"); return; }
        clearError("apps");
        renderOfficeFilter((res.data && res.data.offices) || []);
        renderApps((res.data && res.data.applications) || []);
      }, function (err) { showError(err.message + "（正在重试）", "apps"); })
      .then(function () { appsBusy = false; });
  }

  function renderOfficeFilter(offices) {
    appEls.officeFilter.hidden = isOffice() || !offices.length;
    if (isOffice()) { return; }
    var sel = appEls.office, previous = sel.value;
    var sig = JSON.stringify(offices.map(function (o) { return o.id; }));
    if (sel._sig === sig) { return; }
    sel._sig = sig;
    while (sel.options.length > 1) { sel.remove(1); }
    offices.forEach(function (o) {
      var opt = el("option", null, o.name || o.id);
      opt.value = String(o.id);
      sel.appendChild(opt);
    });
    sel.value = previous;
  }

  function renderApps(list) {
    // rebuilt only when something changed, so a keyboard user's focus is not lost every poll
    var sig = JSON.stringify([list, currentAppId, appEls.status.value, Math.floor(Date.now() / 3600000)]);
    if (sig === appsSig) { return; }
    appsSig = sig;
    var focused = document.activeElement && document.activeElement.classList.contains("app-row") ?
      document.activeElement.getAttribute("data-id") : null;
    clear(appEls.list);
    list.forEach(function (a) {
      var row = el("button", "ticket app-row");
      row.type = "button";
      row.setAttribute("data-id", String(a.id));
      row.setAttribute("data-status", String(a.status || ""));
      row.classList.toggle("overdue", !!a.overdue);
      row.classList.toggle("poor", !!a.poor_rating);
      row.classList.toggle("active", String(a.id) === String(currentAppId));
      var top = el("span", "ticket-top");
      appTags(a).forEach(function (t) { top.appendChild(t); });
      top.appendChild(el("span", "ticket-class", a.title || a.form));
      top.appendChild(el("span", "ticket-id app-ref", a.reference || ""));
      row.appendChild(top);
      var middle = el("span", "app-row-line");
      middle.appendChild(el("span", "app-applicant", a.applicant || "（未留姓名）"));
      if (a.district) { middle.appendChild(el("span", "muted", a.district)); }
      if (!isOffice() && a.office_name) { middle.appendChild(el("span", "muted", a.office_name)); }
      row.appendChild(middle);
      var foot = el("span", "ticket-foot");
      foot.appendChild(tag("tag-app-status app-status-" + safeClass(a.status), a.status_name || a.status));
      var due = dueText(a);
      if (due) { foot.appendChild(el("span", "app-due" + (a.overdue ? " app-due-late" : ""), due)); }
      if (a.submitted_at) { foot.appendChild(el("span", "app-submitted", "提交 " + fmtTime(a.submitted_at))); }
      row.appendChild(foot);
      row.setAttribute("aria-label", [a.reference, a.title, a.applicant, a.status_name, due,
        a.poor_rating ? "差评" : ""].filter(Boolean).join("，"));
      row.addEventListener("click", function () { openApp(a.id); });
      appEls.list.appendChild(row);
      if (focused === String(a.id)) { row.focus(); }
    });
    appEls.empty.hidden = list.length > 0;
    appEls.empty.textContent = appEls.status.value === "open" ? "当前没有待办的申请" : "没有申请";
    var late = list.filter(function (a) { return a.overdue; }).length;
    appEls.count.hidden = !list.length;
    appEls.count.textContent = list.length + " 份" + (late ? "，" + late + " 份超期" : "");
    appEls.count.classList.toggle("badge-danger", late > 0);
    if (isOffice()) {
      document.title = (late ? "(" + late + ") " : "") + "申请办理 · 12348 公共法律服务";
    }
  }

  appEls.tab.addEventListener("click", function () { switchTab("apps"); });
  appEls.status.addEventListener("change", function () { loadApps(); });
  appEls.office.addEventListener("change", function () { loadApps(); });

  // --- detail ---
  function closeApp() {
    currentApp = null;
    currentAppId = null;
    stepsSig = null;
    closeStep();
    appEls.detail.hidden = true;
    appEls.placeholder.hidden = false;
  }

  function openApp(id) {
    if (String(currentAppId) !== String(id)) {
      closeApp();
      currentAppId = id;
      appEls.placeholder.hidden = true;
      appEls.detail.hidden = false;
      appEls.heading.textContent = "加载中…";
      clear(appEls.meta);
    }
    Array.prototype.forEach.call(appEls.list.children, function (r) {
      r.classList.toggle("active", r.getAttribute("data-id") === String(id));
    });
    appBusy = false;
    return loadApp();
  }

  function loadApp() {
    if (currentAppId == null || appBusy) { return Promise.resolve(); }
    var id = currentAppId;
    appBusy = true;
    return api("GET", appUrl(id))
      .then(function (res) {
        if (String(id) !== String(currentAppId)) { return; }
        if (!res.ok) {
          if (res.status === 404) { closeApp(); loadApps(); }
          handleFailure(res, "app");
          return;
        }
        clearError("app");
        renderApp(res.data || {});
      }, function (err) { showError(err.message + "（正在重试）", "app"); })
      .then(function () { appBusy = false; });
  }

  function renderApp(a) {
    currentApp = a;
    appEls.heading.textContent = (a.title || a.form) + " · " + (a.reference || "");
    clear(appEls.meta);
    appTags(a).forEach(function (t) { appEls.meta.appendChild(t); });
    appEls.meta.appendChild(tag("tag-app-status app-status-" + safeClass(a.status), a.status_name || a.status));
    var bits = [];
    if (a.office_name) { bits.push(a.office_name); }
    if (a.submitted_at) { bits.push("提交 " + fmtTime(a.submitted_at)); }
    var due = dueText(a);
    if (due) { bits.push(due + "（" + fmtTime(a.due_at) + "）"); }
    if (a.result_name) { bits.push("结果：" + a.result_name); }
    appEls.meta.appendChild(el("span", "meta-text", bits.join(" · ")));

    clear(appEls.alerts);
    if (a.overdue) {
      var late = el("div", "alert alert-danger");
      late.appendChild(el("strong", null, "已超过办理时限"));
      late.appendChild(el("span", null, a.sla_basis ? "依据：" + a.sla_basis : "请尽快处理。"));
      appEls.alerts.appendChild(late);
    }
    if (a.poor_rating) {
      var poor = el("div", "alert alert-warn");
      poor.appendChild(el("strong", null, "申请人评价：" + (a.rating_name || a.rating)));
      poor.appendChild(el("span", null, a.rating_comment ? "留言：" + a.rating_comment : "请回访了解原因。"));
      appEls.alerts.appendChild(poor);
    } else if (a.rating) {
      var rated = el("div", "alert alert-info");
      rated.appendChild(el("strong", null, "申请人评价：" + (a.rating_name || a.rating)));
      if (a.rating_comment) { rated.appendChild(el("span", null, "留言：" + a.rating_comment)); }
      appEls.alerts.appendChild(rated);
    }

    renderAnswers(a.answers || []);
    renderScreening(a.screening);
    renderBookings(a.bookings || []);
    renderFiles(a.attachments || []);
    renderTimeline(a.timeline || []);
    appEls.sla.textContent = a.sla_basis ? "办理时限：" + a.sla_basis : "";
    appEls.sla.hidden = !a.sla_basis;
    renderSteps(a);
  }

  function renderAnswers(list) {
    clear(appEls.answers);
    list.forEach(function (x) {
      var tr = el("tr");
      tr.setAttribute("data-name", String(x.name || ""));
      tr.appendChild(el("th", null, x.label)).setAttribute("scope", "row");
      tr.appendChild(el("td", null, x.value));
      appEls.answers.appendChild(tr);
    });
    if (!list.length) {
      var empty = el("tr");
      empty.appendChild(el("td", "muted", "（没有内容：申请人可能已删除个人信息）"));
      appEls.answers.appendChild(empty);
    }
  }

  function listBlock(label, items, cls) {
    var box = el("div", "screening-block");
    box.appendChild(el("div", "pk-label", label));
    var ul = el("ul", cls || "screening-list");
    items.forEach(function (t) { ul.appendChild(el("li", null, t)); });
    box.appendChild(ul);
    return box;
  }

  function renderScreening(s) {
    clear(appEls.screening);
    appEls.screeningCard.hidden = !s;
    if (!s) { return; }
    var head = el("div", "screening-result screening-" + safeClass(s.result));
    head.appendChild(el("strong", null, s.result_name || s.result || ""));
    appEls.screening.appendChild(head);
    if (s.reasons && s.reasons.length) { appEls.screening.appendChild(listBlock("理由", s.reasons)); }
    if (s.materials && s.materials.length) { appEls.screening.appendChild(listBlock("应备材料", s.materials)); }
    if (s.legal_basis && s.legal_basis.length) {
      var basis = el("div", "screening-block");
      basis.appendChild(el("div", "pk-label", "法律依据"));
      var chips = el("div", "pk-value");
      s.legal_basis.forEach(function (b) { chips.appendChild(chip("chip-brand", basisText(b))); });
      basis.appendChild(chips);
      appEls.screening.appendChild(basis);
    }
  }

  function renderFiles(list) {
    clear(appEls.files);
    appEls.filesCard.hidden = !list.length;
    list.forEach(function (f) {
      var link = el("a", "", f.filename + "（" + Math.max(1, Math.round(f.size / 1024)) + " KB）");
      link.href = f.url;
      link.setAttribute("download", f.filename);
      var item = el("li", "booking");
      item.appendChild(link);
      appEls.files.appendChild(item);
    });
  }

  var BOOKING_STATUSES = { booked: "已预约", cancelled: "已取消", attended: "已到场", missed: "未到场" };
  function renderBookings(list) {
    clear(appEls.bookings);
    appEls.bookingsCard.hidden = !list.length;
    list.forEach(function (b) {
      appEls.bookings.appendChild(el("li", "booking booking-" + safeClass(b.status),
        b.day + " " + b.time + " · " + (b.centre_name || b.centre) + " · " + lookup(BOOKING_STATUSES, b.status)));
    });
  }

  function eventDetail(e) {
    var d = e.detail || {}, parts = [];
    if (Array.isArray(d.checklist) && d.checklist.length) { parts.push("材料：" + d.checklist.join("；")); }
    if (d.when) { parts.push("时间地点：" + d.when); }
    if (d.to) { parts.push("转给：" + (d.to_name || d.to)); }
    if (d.from) { parts.push("原机构：" + (d.from_name || d.from)); }
    if (d.result) { parts.push("结果：" + (d.result_name || d.result)); }
    if (d.rating) { parts.push("评价：" + d.rating + " 分"); }
    if (d.office && e.kind === "submitted") { parts.push("机构：" + (d.office_name || d.office)); }
    return parts.join(" · ");
  }

  function renderTimeline(list) {
    clear(appEls.timeline);
    list.forEach(function (e) {
      var li = el("li", "timeline-item kind-" + safeClass(e.kind) + (e.kind === "note" ? " internal" : ""));
      li.setAttribute("data-kind", String(e.kind || ""));
      var head = el("div", "timeline-head");
      head.appendChild(el("span", "timeline-kind", e.kind_name || e.kind));
      head.appendChild(el("span", "timeline-actor", e.actor_name || e.actor));
      head.appendChild(el("time", "timeline-time", fmtTime(e.created_at)));
      if (e.kind === "note") { head.appendChild(el("span", "private-badge", "仅内部可见")); }
      li.appendChild(head);
      var extra = eventDetail(e);
      if (extra) { li.appendChild(el("div", "timeline-detail", extra)); }
      if (e.text) {
        var said = el("div", "timeline-text");
        if (e.kind !== "note" && e.told) {
          said.appendChild(el("span", "timeline-said", "已告知申请人："));
        }
        said.appendChild(document.createTextNode(e.text));
        li.appendChild(said);
      } else if (e.detail && e.detail.note) {
        li.appendChild(el("div", "timeline-text", e.detail.note));
      }
      appEls.timeline.appendChild(li);
    });
  }

  function renderSteps(a) {
    var steps = STEP_ORDER.filter(function (s) { return (a.steps || []).indexOf(s) >= 0; });
    var sig = JSON.stringify([a.id, a.status, steps]);
    if (openStep && steps.indexOf(openStep) < 0) { closeStep(); }
    if (sig === stepsSig) { return; }
    stepsSig = sig;
    clear(appEls.steps);
    steps.forEach(function (s) {
      var b = el("button", "btn btn-sm step-btn step-" + s, STEP_LABELS[s]);
      b.type = "button";
      b.setAttribute("data-step", s);
      b.setAttribute("aria-controls", "step-form");
      b.setAttribute("aria-expanded", "false");
      if (s === "refuse" || s === "lapse") { b.classList.add("btn-outline-danger"); }
      if (s === "accept" || s === "complete") { b.classList.add("btn-primary"); }
      b.addEventListener("click", function () { showStep(s); });
      appEls.steps.appendChild(b);
    });
    appEls.noSteps.hidden = steps.some(function (s) { return s !== "note"; });
    // what the selects offer comes with the application
    fillSelect(appEls.stepOffice, (a.transfer_offices || []).map(function (o) { return [o.id, o.name]; }),
      a.transfer_offices && a.transfer_offices.length ? "选择机构…" : "没有可转的同类机构");
    fillSelect(appEls.result, (a.completion_results || []).map(function (r) { return [r.value, r.label]; }), "选择结果…");
  }

  function fillSelect(sel, pairs, first) {
    var previous = sel.value;
    clear(sel);
    var o = el("option", null, first);
    o.value = "";
    sel.appendChild(o);
    pairs.forEach(function (p) {
      var opt = el("option", null, p[1]);
      opt.value = String(p[0]);
      sel.appendChild(opt);
    });
    sel.value = pairs.some(function (p) { return String(p[0]) === previous; }) ? previous : "";
  }

  function showStep(step) {
    var spec = STEP_FORMS[step] || {};
    openStep = step;
    appEls.formTitle.textContent = STEP_LABELS[step];
    appEls.formHint.textContent = spec.hint || "";
    appEls.checklistField.hidden = !spec.checklist;
    appEls.whenField.hidden = !spec.when;
    appEls.officeField.hidden = !spec.office;
    appEls.resultField.hidden = !spec.result;
    appEls.textField.hidden = !!spec.noText;
    appEls.textLabel.textContent = spec.text || "";
    appEls.text.required = !!spec.required;
    appEls.checklist.required = !!spec.checklist;
    appEls.when.required = !!spec.when;
    appEls.stepOffice.required = !!spec.office;
    appEls.result.required = !!spec.result;
    appEls.checklist.value = "";
    appEls.when.value = "";
    appEls.text.value = "";
    appEls.stepOffice.value = "";
    appEls.result.value = "";
    appEls.formError.hidden = true;
    appEls.submit.textContent = "确认" + STEP_LABELS[step];
    appEls.submit.classList.toggle("btn-danger", step === "refuse" || step === "lapse");
    appEls.submit.classList.toggle("btn-primary", !(step === "refuse" || step === "lapse"));
    appEls.form.hidden = false;
    Array.prototype.forEach.call(appEls.steps.children, function (b) {
      var on = b.getAttribute("data-step") === step;
      b.classList.toggle("active", on);
      b.setAttribute("aria-expanded", String(on));
    });
    var first = spec.checklist ? appEls.checklist : spec.when ? appEls.when : spec.office ? appEls.stepOffice :
      spec.result ? appEls.result : spec.noText ? appEls.submit : appEls.text;
    setTimeout(function () { first.focus(); }, 0);
  }

  function closeStep() {
    openStep = null;
    appEls.form.hidden = true;
    appEls.formError.hidden = true;
    Array.prototype.forEach.call(appEls.steps.children, function (b) {
      b.classList.remove("active");
      b.setAttribute("aria-expanded", "false");
    });
  }
  appEls.cancel.addEventListener("click", closeStep);

  function stepProblem(step) {
    var spec = STEP_FORMS[step] || {};
    if (spec.checklist && !appEls.checklist.value.trim()) { return "请列出需要补充的材料，每行一项"; }
    if (spec.when && !appEls.when.value.trim()) { return "请填写预约的时间和地点"; }
    if (spec.office && !appEls.stepOffice.value) { return "请选择要转给的机构"; }
    if (spec.result && !appEls.result.value) { return "请选择办理结果"; }
    if (spec.required && !appEls.text.value.trim()) { return step === "refuse" ? "请写明不予受理的理由" : "备注不能为空"; }
    return "";
  }

  appEls.form.addEventListener("submit", function (e) {
    e.preventDefault();
    var step = openStep, id = currentAppId;
    if (!step || id == null) { return; }
    var problem = stepProblem(step);
    if (problem) {
      appEls.formError.textContent = problem;
      appEls.formError.hidden = false;
      return;
    }
    var body = { text: appEls.text.value.trim() };
    if (step === "ask_materials") {
      body.checklist = appEls.checklist.value.split(/\n+/).map(function (s) { return s.trim(); })
        .filter(Boolean).slice(0, 20);
    }
    if (step === "schedule") { body.when = appEls.when.value.trim(); }
    if (step === "transfer") { body.office = appEls.stepOffice.value; }
    if (step === "complete") { body.result = appEls.result.value; }
    appEls.submit.disabled = true;
    api("POST", appUrl(id, step), body)
      .then(function (res) {
        if (!res.ok) {
          if (res.status === 401) { sessionExpired(); return; }
          appEls.formError.textContent = detailOf(res);
          appEls.formError.hidden = false;
          return;
        }
        closeStep();
        if (String(id) === String(currentAppId)) { renderApp(res.data || {}); }
        loadApps();
      }, function (err) {
        appEls.formError.textContent = err.message;
        appEls.formError.hidden = false;
      })
      .then(function () { appEls.submit.disabled = false; });
  });

  function resetApps() {
    stopApps();
    closeApp();
    clear(appEls.list);
    appsSig = null;
    appEls.office._sig = null;
  }

  // ---------- audit log (admins) ----------
  function loadAudit() {
    if (!me || me.role !== "admin" || auditBusy) { return Promise.resolve(); }
    auditBusy = true;
    els.auditRefresh.disabled = true;
    return api("GET", "/api/console/audit?limit=200")
      .then(function (res) {
        if (!res.ok) { handleFailure(res, "audit"); return; }
        clearError("audit");
        auditEntries = (res.data && Array.isArray(res.data.entries)) ? res.data.entries : [];
        renderAuditFilter();
        renderAudit();
      }, function (err) { showError(err.message, "audit"); })
      .then(function () { auditBusy = false; els.auditRefresh.disabled = false; });
  }

  function renderAuditFilter() {
    var sel = els.auditFilter;
    var previous = sel.value;
    var present = Object.create(null);
    auditEntries.forEach(function (e) { if (e && e.action) { present[e.action] = true; } });
    var actions = Object.keys(ACTIONS).filter(function (a) { return present[a]; })
      .concat(Object.keys(present).filter(function (a) { return !has(ACTIONS, a); }).sort());
    while (sel.options.length > 1) { sel.remove(1); }
    actions.forEach(function (a) {
      var o = el("option", null, lookup(ACTIONS, a));
      o.value = a;
      sel.appendChild(o);
    });
    sel.value = actions.indexOf(previous) >= 0 ? previous : "";
  }

  function fmtDetail(d) {
    if (d == null || d === "") { return ""; }
    if (typeof d !== "object") { return String(d); }
    var parts = [];
    Object.keys(d).forEach(function (k) {
      var v = d[k];
      if (k === "to") { parts.push(v ? "转给 " + lawyerName(String(v)) : "退回队列"); }
      else if (k === "outcome") { parts.push("结果：" + lookup(OUTCOMES, v)); }
      else if (k === "chars") { parts.push(v + " 字"); }
      else if (k === "waited_minutes") { parts.push("已等待 " + v + " 分钟"); }
      else { parts.push(k + "：" + (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v))); }
    });
    return parts.join("；");
  }

  function renderAudit() {
    var filter = els.auditFilter.value;
    var list = auditEntries.filter(function (e) { return e && (!filter || e.action === filter); });
    clear(els.auditBody);
    list.forEach(function (e) {
      var tr = el("tr", "audit-entry action-" + safeClass(e.action));
      tr.setAttribute("data-action", String(e.action || ""));
      tr.setAttribute("data-id", String(e.id));
      tr.setAttribute("data-ticket", e.ticket_id == null ? "" : String(e.ticket_id));
      tr.appendChild(el("td", "audit-time", fmtDateTime(e.created_at)));
      tr.appendChild(el("td", "audit-lawyer" + (e.lawyer ? "" : " muted"), e.lawyer ? lawyerName(e.lawyer) : "系统"));
      var act = el("td", "audit-action");
      act.appendChild(tag("tag-action act-" + safeClass(e.action), lookup(ACTIONS, e.action)));
      tr.appendChild(act);
      var tk = el("td", "audit-ticket");
      if (e.ticket_id != null) {
        var b = el("button", "link-btn", "#" + e.ticket_id);
        b.type = "button";
        b.title = "在工作台打开此咨询";
        b.addEventListener("click", function () { openTicket(e.ticket_id); });
        tk.appendChild(b);
      } else {
        tk.appendChild(el("span", "muted", "—"));
      }
      tr.appendChild(tk);
      tr.appendChild(el("td", "audit-detail", fmtDetail(e.detail)));
      els.auditBody.appendChild(tr);
    });
    els.auditEmpty.hidden = list.length > 0;
    els.auditCount.textContent = filter ?
      "显示 " + list.length + " / 最近 " + auditEntries.length + " 条" : "最近 " + auditEntries.length + " 条";
  }

  els.auditFilter.addEventListener("change", renderAudit);
  els.auditRefresh.addEventListener("click", function () { loadAudit(); });

  // ---------- the workbench (workbench.js): filters, shortcuts, notifications, labels, history ----------
  var wb = window.LegalbotWorkbench ? window.LegalbotWorkbench.attach({
    api: api, el: el, clear: clear, lookup: lookup, SERVICES: SERVICES, TOPICS: TOPICS, CHANNELS: CHANNELS,
    LANGUAGES: LANGUAGES, OUTCOMES: OUTCOMES, fmtDateTime: fmtDateTime, ticketUrl: ticketUrl,
    handleFailure: handleFailure, showError: showError, isMine: isMine, claim: claim, openTicket: openTicket,
    loadQueue: loadQueue, loadTicket: loadTicket,
    me: function () { return me; },
    tab: function () { return activeTab; },
    current: function () { return currentTicket; },
    currentId: function () { return currentId; },
    order: function () {
      return Array.prototype.map.call(els.queue.querySelectorAll(".ticket[data-id]"), function (r) { return r.getAttribute("data-id"); });
    },
    focus: function (what) {
      if (what === "reply") { els.replyText.focus(); }
      if (what === "note") { els.noteText.focus(); }
      if (what === "resolve") {
        els.manageTools.scrollIntoView({ block: "nearest" });
        els.outcome.focus();
      }
    }
  }) : null;

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
