/* legalbot — citizen web chat. Plain browser JS, no dependencies.
 * SECURITY: message data is only ever rendered with textContent / createTextNode. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var CHAT_KEY = "legalbot.chat";            // {"id": ..., "secret": ...} issued by POST /api/chat
  var OLD_CLIENT_KEY = "legalbot.client_id";  // before chats had secrets; such a chat cannot be reopened
  var SECRET_HEADER = "X-Chat-Secret";
  var LANG_KEY = "legalbot.lang";
  // a photo or PDF for an office that asked for materials (services/attachments.py checks it again)
  var MAX_UPLOAD = 10 * 1024 * 1024;

  var I18N = {
    zh: {
      title: "12348 公共法律服务智能助手",
      note: "智能助手不是律师 · 紧急情况请拨打110",
      welcomeTitle: "您好！请问有什么法律问题？",
      welcomeBody: "请用日常语言描述您遇到的问题，例如：“公司拖欠工资三个月怎么办”。",
      inputLabel: "输入您的问题",
      placeholder: "请输入您的问题…",
      send: "发送",
      sending: "发送中…",
      privacy: "隐私与删除",
      langSwitch: "English",
      langSwitchLabel: "Switch to English",
      sendFailed: "发送失败，请重试",
      waiting: "正在为您转接律师…",
      withLawyer: "律师已接入",
      lawyer: "律师",
      bot: "智能助手",
      system: "系统消息",
      you: "我",
      saysBot: "智能助手说：",
      saysYou: "我说：",
      saysLawyer: "律师说：",
      saysSystem: "系统消息：",
      loading: "正在加载对话记录…",
      cancelWait: "取消等待",
      attach: "发送照片或文件",
      uploading: "上传中…",
      sentFile: "（已发送照片或文件）",
      fileTooBig: "文件太大，请不要超过10MB",
      menuNav: "服务菜单",
      menuToggle: "服务菜单",
      menuConsult: "法律咨询",
      menuLegalAid: "法律援助",
      menuMediation: "人民调解",
      menuNotary: "公证",
      menuGuide: "办事指南",
      menuMine: "我的咨询"
    },
    en: {
      title: "12348 Public Legal Service Assistant",
      note: "Not a lawyer · In an emergency call 110",
      welcomeTitle: "Hello! What legal question can we help with?",
      welcomeBody: "Describe your problem in everyday words, e.g. \u201cMy employer hasn't paid my wages for three months.\u201d",
      inputLabel: "Type your question",
      placeholder: "Type your question…",
      send: "Send",
      sending: "Sending…",
      privacy: "Privacy & deletion",
      langSwitch: "中文",
      langSwitchLabel: "切换到中文",
      sendFailed: "Could not send, please retry",
      waiting: "Connecting you to a lawyer…",
      withLawyer: "A lawyer has joined",
      lawyer: "Lawyer",
      bot: "Assistant",
      system: "System",
      you: "Me",
      saysBot: "The assistant says:",
      saysYou: "I said:",
      saysLawyer: "The lawyer says:",
      saysSystem: "System message:",
      loading: "Loading the conversation…",
      cancelWait: "Stop waiting",
      attach: "Send a photo or file",
      uploading: "Uploading…",
      sentFile: "(photo or file sent)",
      fileTooBig: "The file is too large: at most 10 MB",
      menuNav: "Services",
      menuToggle: "Services",
      menuConsult: "Legal advice",
      menuLegalAid: "Legal aid",
      menuMediation: "Mediation",
      menuNotary: "Notarization",
      menuGuide: "Service guide",
      menuMine: "My consultations"
    }
  };

  // ---------- small helpers ----------
  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function storageRemove(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* private mode */ }
  }

  // ---------- the chat's id and secret ----------
  // The server issues both; the secret only ever travels in the X-Chat-Secret header (never in a URL,
  // so it is in no log) and is the only way to read this chat's history.
  var chat = null;          // {id, secret}
  var starting = null;      // the pending POST /api/chat

  function storedChat() {
    try {
      var c = JSON.parse(storageGet(CHAT_KEY) || "null");
      if (c && typeof c.id === "string" && typeof c.secret === "string" &&
          /^[A-Za-z0-9_-]{8,64}$/.test(c.id)) { return c; }
    } catch (e) { /* unreadable: start again */ }
    return null;
  }

  function ensureChat() {
    if (chat) { return Promise.resolve(chat); }
    if (!starting) {
      starting = fetch("/api/chat", { method: "POST", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (c) {
          chat = { id: String(c.id), secret: String(c.secret) };
          storageSet(CHAT_KEY, JSON.stringify(chat));
          return chat;
        })
        .then(function (c) { starting = null; return c; }, function (e) { starting = null; throw e; });
    }
    return starting;
  }

  function forgetChat() {
    // the server does not know this chat (or its secret): the next message starts a new one
    chat = null;
    storageRemove(CHAT_KEY);
  }

  function chatFetch(method, query, body) {
    return ensureChat().then(function (c) {
      var headers = { "Accept": "application/json" };
      headers[SECRET_HEADER] = c.secret;
      var init = { method: method, headers: headers, cache: "no-store" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch("/api/chat/" + encodeURIComponent(c.id) + "/messages" + query, init).then(function (r) {
        if (r.status === 403 && chat === c) { forgetChat(); }
        return r;
      });
    });
  }

  function formatTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    var hh = String(d.getHours()).padStart(2, "0");
    var mm = String(d.getMinutes()).padStart(2, "0");
    var now = new Date();
    if (d.toDateString() === now.toDateString()) { return hh + ":" + mm; }
    return (d.getMonth() + 1) + "/" + d.getDate() + " " + hh + ":" + mm;
  }

  // ---------- state ----------
  chat = storedChat();
  storageRemove(OLD_CLIENT_KEY);
  var lang = storageGet(LANG_KEY) === "en" ? "en" : "zh";
  var shown = Object.create(null);   // message id -> element
  var cursor = null;                 // highest id received via GET (poll cursor)
  var status = "bot";
  var sending = false;
  var polling = false;
  var lastOutId = null;              // most recent outgoing message id

  var els = {
    messages: document.getElementById("messages"),
    scroller: document.getElementById("scroller"),
    hint: document.getElementById("empty-hint"),
    loading: document.getElementById("loading"),
    status: document.getElementById("status"),
    error: document.getElementById("error"),
    form: document.getElementById("composer"),
    text: document.getElementById("text"),
    send: document.getElementById("send"),
    lang: document.getElementById("lang"),
    privacy: document.getElementById("privacy"),
    file: document.getElementById("file"),
    attach: document.getElementById("attach"),
    nav: document.getElementById("service-nav"),
    menuToggle: document.getElementById("menu-toggle"),
    menu: document.getElementById("service-menu")
  };
  var errorText = null;              // a message from the server shown instead of "send failed"

  function t(key) {
    return (I18N[lang] && I18N[lang][key]) || I18N.zh[key] || key;
  }

  // ---------- language ----------
  function applyLang() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.title = t("title");
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    }
    var ph = document.querySelectorAll("[data-i18n-placeholder]");
    for (var j = 0; j < ph.length; j++) {
      ph[j].setAttribute("placeholder", t(ph[j].getAttribute("data-i18n-placeholder")));
    }
    els.nav.setAttribute("aria-label", t("menuNav"));
    els.lang.textContent = t("langSwitch");
    els.lang.setAttribute("aria-label", t("langSwitchLabel"));
    els.send.textContent = sending ? t("sending") : t("send");
    // sender labels on already-rendered messages
    var labels = els.messages.querySelectorAll(".msg-label[data-label]");
    for (var k = 0; k < labels.length; k++) {
      labels[k].textContent = t(labels[k].getAttribute("data-label"));
    }
    renderStatus();
    if (!els.error.hidden) { els.error.textContent = errorText || t("sendFailed"); }
  }

  els.lang.addEventListener("click", function () {
    var stick = isNearBottom();
    lang = lang === "zh" ? "en" : "zh";
    storageSet(LANG_KEY, lang);
    applyLang();
    if (stick) { scrollToBottom(); }
  });

  // the privacy notice, with its button to delete one's data (the same as typing 隐私)
  els.privacy.addEventListener("click", function () {
    if (sending) { return; }
    setSending(true);
    post({ payload: "/privacy" }).catch(function () { showError(); })
      .then(function () { setSending(false); fetchMessages(false); });
  });

  // ---------- the services menu ----------
  // A disclosure: the toggle says whether the list is open (aria-expanded); Escape, choosing an entry or
  // clicking elsewhere closes it, and the keyboard's focus goes back to the toggle. An entry sends its
  // payload, which the engine answers as it does the same entry of Telegram's or WeChat's menu.
  function menuOpen() { return !els.menu.hidden; }
  function setMenu(open, refocus) {
    var stick = isNearBottom();   // the open list shrinks the scroll area: keep the newest message in view
    els.menu.hidden = !open;
    els.menuToggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (stick) { scrollToBottom(); }
    if (!open && refocus) { els.menuToggle.focus(); }
  }
  els.menuToggle.addEventListener("click", function () { setMenu(!menuOpen(), false); });
  els.nav.addEventListener("keydown", function (e) {
    if ((e.key === "Escape" || e.key === "Esc") && menuOpen()) {
      e.preventDefault();
      setMenu(false, true);
    }
  });
  els.nav.addEventListener("focusout", function (e) {
    // tabbing away from the menu closes it (a click elsewhere is handled below)
    if (menuOpen() && e.relatedTarget && !els.nav.contains(e.relatedTarget)) { setMenu(false, false); }
  });
  document.addEventListener("click", function (e) {
    if (menuOpen() && !els.nav.contains(e.target)) { setMenu(false, false); }
  });
  var entries = els.menu.querySelectorAll("button[data-payload]");
  for (var m = 0; m < entries.length; m++) {
    entries[m].addEventListener("click", function (e) {
      var payload = e.currentTarget.getAttribute("data-payload");
      setMenu(false, true);
      if (sending || !payload) { return; }
      setSending(true);
      post({ payload: payload }).catch(function () { showError(); })
        .then(function () { setSending(false); fetchMessages(false); });
    });
  }

  // ---------- status ----------
  function renderStatus() {
    var key = null;
    if (status === "waiting") { key = "waiting"; }
    else if (status === "with_lawyer") { key = "withLawyer"; }
    els.status.className = "chat-status" + (key ? " status-" + status : "");
    if (key) {
      els.status.textContent = t(key);
      els.status.hidden = false;
      if (status === "waiting") {  // always at hand while waiting, not only under the newest message
        var cancel = document.createElement("button");
        cancel.type = "button";
        cancel.id = "cancel-wait";
        cancel.className = "status-action";
        cancel.textContent = t("cancelWait");
        cancel.addEventListener("click", function () {
          if (sending) { return; }
          setSending(true);
          post({ payload: "/cancel" }).catch(function () { showError(); })
            .then(function () { setSending(false); fetchMessages(false); });
        });
        els.status.appendChild(cancel);
      }
    } else {
      els.status.textContent = "";
      els.status.hidden = true;
    }
  }

  function setStatus(s) {
    if (typeof s !== "string" || s === status) { return; }
    var stick = isNearBottom();
    status = s;
    renderStatus();
    if (stick) { scrollToBottom(); }   // the status line shrinks the scroll area
  }

  // ---------- errors ----------
  function showError(text) {
    errorText = typeof text === "string" && text ? text : null;
    els.error.textContent = errorText || t("sendFailed");
    els.error.hidden = false;
  }
  function clearError() {
    errorText = null;
    els.error.hidden = true;
    els.error.textContent = "";
  }

  // ---------- rendering ----------
  function isNearBottom() {
    var s = els.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }
  function scrollToBottom() {
    els.scroller.scrollTop = els.scroller.scrollHeight;
  }

  // keep the newest message in view when the viewport changes (e.g. the
  // on-screen keyboard opens on a phone) if the reader was at the bottom
  var stuckToBottom = true;
  els.scroller.addEventListener("scroll", function () { stuckToBottom = isNearBottom(); }, { passive: true });
  window.addEventListener("resize", function () { if (stuckToBottom) { scrollToBottom(); } });

  function buildMessage(m) {
    var sender = String(m.sender || (m.direction === "in" ? "citizen" : "bot"));
    var el = document.createElement("div");
    el.className = "msg msg-" + (m.direction === "in" ? "in" : "out") + " msg-" + sender.replace(/[^a-z_]/gi, "");
    el.setAttribute("data-sender", sender);
    el.setAttribute("data-id", String(m.id));

    if (sender === "lawyer" || sender === "system") {
      var label = document.createElement("div");
      label.className = "msg-label";
      label.setAttribute("data-label", sender);
      label.textContent = t(sender);
      el.appendChild(label);
    }

    var bubble = document.createElement("div");
    bubble.className = "msg-bubble";
    var text = m.text == null ? "" : String(m.text);
    if (!text && m.kind === "media") { text = t("sentFile"); }
    // who is speaking, for a screen reader (the bubbles' sides and colours say it to the eye)
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = t({ citizen: "saysYou", lawyer: "saysLawyer", system: "saysSystem" }[sender] || "saysBot");
    bubble.appendChild(who);
    appendText(bubble, text);
    el.appendChild(bubble);

    var time = formatTime(m.created_at);
    if (time) {
      var tm = document.createElement("time");
      tm.className = "msg-time";
      tm.setAttribute("datetime", String(m.created_at));
      tm.textContent = time;
      el.appendChild(tm);
    }
    el._buttons = Array.isArray(m.buttons) ? m.buttons : [];
    return el;
  }

  // Lines that start with "· " are a list (我的咨询, the centres, the privacy notice): a screen reader says
  // how many items there are and reads them one by one. The dot stays on screen, hidden from speech.
  var BULLET = "· ";
  function appendText(parent, text) {
    var lines = text.split("\n");
    var plain = [];
    var list = null;
    function flush() {
      if (plain.length) { appendWithPhoneLinks(parent, plain.join("\n")); plain = []; }
    }
    lines.forEach(function (line) {
      if (line.indexOf(BULLET) === 0) {
        flush();
        if (!list) {
          list = document.createElement("ul");
          list.className = "msg-list";
          parent.appendChild(list);
        }
        var item = document.createElement("li");
        var dot = document.createElement("span");
        dot.setAttribute("aria-hidden", "true");
        dot.textContent = BULLET;
        item.appendChild(dot);
        appendWithPhoneLinks(item, line.slice(BULLET.length));
        list.appendChild(item);
      } else {
        list = null;
        plain.push(line);
      }
    });
    flush();
  }

  // 110, 12348 and other numbers in a message can be tapped to call (the text itself stays text).
  var PHONE = /(?<![\d-])(1[3-9]\d{9}|0\d{2,3}-\d{7,8}|12348|12338|12110|12315|12333|110|119|120|122)(?![\d-])/g;
  function appendWithPhoneLinks(parent, text) {
    var last = 0;
    text.replace(PHONE, function (number, _g, at) {
      if (at > last) { parent.appendChild(document.createTextNode(text.slice(last, at))); }
      var a = document.createElement("a");
      a.href = "tel:" + number.replace(/-/g, "");
      a.className = "tel";
      a.textContent = number;
      parent.appendChild(a);
      last = at + number.length;
      return number;
    });
    if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
  }

  function insertInOrder(el, id) {
    // keep the DOM ordered by id even if responses arrive out of order
    var children = els.messages.children;
    for (var i = children.length - 1; i >= 0; i--) {
      var cid = Number(children[i].getAttribute("data-id"));
      if (cid < id) {
        els.messages.insertBefore(el, children[i].nextSibling);
        return;
      }
    }
    els.messages.insertBefore(el, els.messages.firstChild);
  }

  function renderChoices(msgEl) {
    var buttons = msgEl._buttons || [];
    if (!buttons.length || msgEl.querySelector(".choices")) { return; }
    var wrap = document.createElement("div");
    wrap.className = "choices";
    buttons.forEach(function (b) {
      if (!b || b.payload == null) { return; }
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "choice";
      btn.textContent = String(b.label != null ? b.label : b.payload);
      btn.addEventListener("click", function () {
        onChoice(msgEl, String(b.payload));
      });
      wrap.appendChild(btn);
    });
    msgEl.appendChild(wrap);
  }

  function updateChoices() {
    // only the most recent outgoing message keeps its chips
    var outs = els.messages.querySelectorAll(".msg-out");
    var latest = outs.length ? outs[outs.length - 1] : null;
    var latestId = latest ? Number(latest.getAttribute("data-id")) : null;
    if (latestId === lastOutId) { return; }
    lastOutId = latestId;
    var old = els.messages.querySelectorAll(".choices");
    for (var i = 0; i < old.length; i++) {
      if (old[i].parentNode !== latest) { old[i].parentNode.removeChild(old[i]); }
    }
    if (latest) { renderChoices(latest); }
  }

  function addMessages(list, forceScroll) {
    if (!Array.isArray(list) || !list.length) { return; }
    var stick = forceScroll || isNearBottom();
    var added = false;
    list.forEach(function (m) {
      if (!m || m.id == null) { return; }
      var key = String(m.id);
      if (shown[key]) { return; }
      var el = buildMessage(m);
      shown[key] = el;
      insertInOrder(el, Number(m.id));
      added = true;
    });
    if (!added) { return; }
    els.hint.hidden = true;
    updateChoices();
    if (stick) { scrollToBottom(); }
  }

  function advanceCursor(list) {
    if (!Array.isArray(list)) { return; }
    list.forEach(function (m) {
      var id = Number(m && m.id);
      if (!isNaN(id) && (cursor === null || id > cursor)) { cursor = id; }
    });
  }

  // ---------- network ----------
  function fetchMessages(initial) {
    if (polling || (!chat && !initial)) { return Promise.resolve(); }  // no chat yet: nothing to read
    polling = true;
    var query = cursor !== null ? "?after=" + encodeURIComponent(cursor) : "";
    return (chat ? chatFetch("GET", query) : Promise.resolve(null))
      .then(function (r) {
        if (r === null) { return {}; }          // a new visitor: the chat starts with the first message
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        var list = (data && data.messages) || [];
        addMessages(list, initial);
        // The poll cursor only advances with GET results, so a message stored
        // between two polls is never skipped even if a POST returned later ids.
        advanceCursor(list);
        if (data && data.status) { setStatus(data.status); }
      })
      .catch(function () { /* transient; the next poll retries */ })
      .then(function () { polling = false; });
  }

  function setSending(on) {
    sending = on;
    els.send.disabled = on;
    els.file.disabled = on;
    els.send.textContent = on ? t("sending") : t("send");
    els.form.classList.toggle("is-sending", on);
  }

  function post(body) {
    body.lang = lang;
    var hadChat = chat !== null;
    return chatFetch("POST", "", body).then(function (r) {
      // a chat the server does not know (its database was reset): start a new one and send again
      if (r.status === 403 && hadChat) { return chatFetch("POST", "", body); }
      return r;
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(showReply);
  }

  function showReply(data) {
    clearError();
    if (data && Array.isArray(data.notices) && data.notices.length) {
      // the citizen's data was deleted: nothing of it stays on the page either
      els.messages.innerHTML = "";
      shown = Object.create(null);
      cursor = null;
      lastOutId = null;
      addMessages(data.notices.map(function (text) {
        return { id: 0, direction: "out", sender: "system", kind: "text", text: text, buttons: [] };
      }), true);
    }
    addMessages((data && data.messages) || [], true);
    if (data && data.status) { setStatus(data.status); }
    return data;
  }

  // ---------- a photo or file ----------
  // Sent as the raw body (not multipart), its name percent-encoded in X-Filename; the reply is shown
  // like the reply to a typed message. A refusal (too large, not a photo or PDF) says why.
  function uploadOnce(file) {
    return ensureChat().then(function (c) {
      var headers = { "Accept": "application/json", "Content-Type": "application/octet-stream",
                      "X-Filename": encodeURIComponent(String(file.name || "").slice(0, 200)) };
      headers[SECRET_HEADER] = c.secret;
      return fetch("/api/chat/" + encodeURIComponent(c.id) + "/upload",
                   { method: "POST", headers: headers, body: file, cache: "no-store" }).then(function (r) {
        if (r.status === 403 && chat === c) { forgetChat(); }
        return r;
      });
    });
  }

  function upload(file) {
    var hadChat = chat !== null;
    return uploadOnce(file).then(function (r) {
      if (r.status === 403 && hadChat) { return uploadOnce(file); }
      return r;
    }).then(function (r) {
      if (r.ok) { return r.json().then(showReply); }
      return r.json().catch(function () { return {}; }).then(function (body) {
        var refused = (r.status === 413 || r.status === 415) && body && typeof body.detail === "string";
        var e = new Error("HTTP " + r.status);
        e.citizenMessage = refused ? body.detail : (r.status === 413 ? t("fileTooBig") : null);
        throw e;
      });
    });
  }

  els.file.addEventListener("change", function () {
    var file = els.file.files && els.file.files[0];
    els.file.value = "";   // the same file can be chosen again
    if (!file || sending) { return; }
    if (file.size > MAX_UPLOAD) { showError(t("fileTooBig")); return; }
    setSending(true);
    els.send.textContent = t("uploading");
    upload(file)
      .catch(function (e) { showError(e && e.citizenMessage); })
      .then(function () {
        setSending(false);
        fetchMessages(false);
      });
  });

  function sendText() {
    if (sending) { return; }
    var text = els.text.value;
    if (!text || !text.trim()) { return; }
    setSending(true);
    post({ text: text })
      .then(function () {
        // only clear if the user hasn't started typing something new meanwhile
        if (els.text.value === text) { els.text.value = ""; autoGrow(); }
      })
      .catch(function () { showError(); })
      .then(function () {
        setSending(false);
        els.text.focus();
        fetchMessages(false);
      });
  }

  function setChoicesDisabled(msgEl, disabled) {
    var btns = msgEl.querySelectorAll("button.choice");
    for (var i = 0; i < btns.length; i++) { btns[i].disabled = disabled; }
  }

  function onChoice(msgEl, payload) {
    if (sending) { return; }
    setChoicesDisabled(msgEl, true);
    msgEl.classList.add("choices-used");
    setSending(true);
    post({ payload: payload })
      .catch(function () {
        showError();
        // let the citizen retry the same choice
        setChoicesDisabled(msgEl, false);
        msgEl.classList.remove("choices-used");
      })
      .then(function () {
        setSending(false);
        fetchMessages(false);
      });
  }

  // ---------- composer ----------
  function autoGrow() {
    var ta = els.text;
    ta.style.height = "auto";
    var max = 160;
    ta.style.height = Math.min(ta.scrollHeight, max) + "px";
    ta.style.overflowY = ta.scrollHeight > max ? "auto" : "hidden";
  }

  els.form.addEventListener("submit", function (e) {
    e.preventDefault();
    sendText();
  });

  els.text.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.shiftKey) { return; }
    // don't send while an IME (pinyin input) is composing
    if (e.isComposing || e.keyCode === 229) { return; }
    e.preventDefault();
    sendText();
  });

  els.text.addEventListener("input", autoGrow);

  // ---------- start ----------
  applyLang();
  if (chat) {  // a returning visitor: say the history is coming, not an empty welcome
    els.hint.hidden = true;
    els.loading.hidden = false;
  }
  fetchMessages(true).then(function () {
    els.loading.hidden = true;
    if (!els.messages.children.length) { els.hint.hidden = false; }
    window.setInterval(function () { fetchMessages(false); }, POLL_MS);
  });
})();
