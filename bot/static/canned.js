/* legalbot — canned replies and knowledge-base answers in the lawyer console (律师工作台).
 * Typing "/" in the reply box (at its start or after a space) lists the lawyer's canned replies, filtered as
 * they type; the 常用回复 button opens the same list with a search field and the knowledge base's answers;
 * 管理 edits the lawyer's own replies (and, for admins, the shared ones). Nothing here sends a message: the
 * text goes into the reply box for the lawyer to edit.
 *
 * console.js calls LegalbotCanned.attach({api, el, clear, detailOf, textarea, button, ticket, role, onError,
 * onUnauthorized}).
 * SECURITY: server data is only ever rendered with textContent, never innerHTML. */
(function () {
  "use strict";

  var CACHE_MS = 60 * 1000;
  var FAQ_DELAY_MS = 200;
  var SLASH = /(^|\s)\/([^\s\/]{0,20})$/;

  // The console's own DOM and error helpers, handed over by attach().
  var el, clear, detailOf;

  /* How well a reply matches what was typed, as the server ranks it (handoff/canned.py rank): the shortcut
   * exactly, its start, the title, the text; -1 for no match. */
  function rankOf(reply, query) {
    var q = String(query || "").trim().toLowerCase();
    if (!q) { return 0; }
    var s = String(reply.shortcut || "").toLowerCase();
    if (s && s === q) { return 0; }
    if (s && s.indexOf(q) === 0) { return 1; }
    if (String(reply.title || "").toLowerCase().indexOf(q) >= 0) { return 2; }
    if (String(reply.template || "").toLowerCase().indexOf(q) >= 0) { return 3; }
    if (String(reply.text || "").toLowerCase().indexOf(q) >= 0) { return 3; }
    return -1;
  }
  function filterReplies(replies, query) {
    return replies
      .map(function (r, i) { return { r: r, rank: rankOf(r, query), i: i }; })
      .filter(function (x) { return x.rank >= 0; })
      .sort(function (a, b) { return a.rank - b.rank || a.i - b.i; })
      .map(function (x) { return x.r; });
  }

  // ---------- a listbox whose active option is announced through the focused field ----------
  function Listbox(id, label, owner) {
    this.node = el("ul", "canned-list");
    this.node.id = id;
    this.node.setAttribute("role", "listbox");
    this.node.setAttribute("aria-label", label);
    this.node.tabIndex = -1;  // not a tab stop of its own (Chromium makes scrolling boxes one): the field leads
    this.owner = owner;
    this.items = [];
    this.active = -1;
    this.onChoose = null;
  }
  Listbox.prototype.show = function (items, render) {
    var self = this;
    clear(this.node);
    this.items = items;
    items.forEach(function (item, i) {
      var li = el("li", "canned-option");
      li.id = self.node.id + "-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      render(li, item);
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });  // keep the focus in the field
      li.addEventListener("click", function () { self.choose(i); });
      self.node.appendChild(li);
    });
    this.setActive(items.length ? 0 : -1);
  };
  Listbox.prototype.setActive = function (i) {
    var prev = this.node.children[this.active];
    if (prev) { prev.setAttribute("aria-selected", "false"); prev.classList.remove("is-active"); }
    this.active = i;
    var li = this.node.children[i];
    if (!li) { this.owner.removeAttribute("aria-activedescendant"); return; }
    li.setAttribute("aria-selected", "true");
    li.classList.add("is-active");
    this.owner.setAttribute("aria-activedescendant", li.id);
    if (li.scrollIntoView) { li.scrollIntoView({ block: "nearest" }); }
  };
  Listbox.prototype.move = function (delta) {
    var n = this.items.length;
    if (!n) { return; }
    this.setActive(((this.active < 0 ? (delta > 0 ? -1 : 0) : this.active) + delta + n) % n);
  };
  Listbox.prototype.choose = function (i) {
    var index = i == null ? this.active : i;
    if (index < 0 || index >= this.items.length || !this.onChoose) { return; }
    this.onChoose(this.items[index]);
  };
  Listbox.prototype.reset = function () {
    clear(this.node);
    this.items = [];
    this.active = -1;
    this.owner.removeAttribute("aria-activedescendant");
  };

  function renderReply(li, r) {
    var head = el("span", "canned-option-head");
    head.appendChild(el("span", "canned-option-title", r.title));
    if (r.shortcut) { head.appendChild(el("span", "canned-shortcut", "/" + r.shortcut)); }
    head.appendChild(el("span", "canned-scope" + (r.mine ? " is-mine" : ""), r.mine ? "我的" : "共享"));
    li.appendChild(head);
    li.appendChild(el("span", "canned-preview", r.text));
  }
  function renderFaq(li, f) {
    var head = el("span", "canned-option-head");
    head.appendChild(el("span", "canned-option-title", f.question));
    if (f.topic_name) { head.appendChild(el("span", "canned-scope", f.topic_name)); }
    li.appendChild(head);
    if (f.basis) { li.appendChild(el("span", "canned-basis", "法律依据：" + f.basis)); }
    li.appendChild(el("span", "canned-preview", f.answer));
  }

  // ---------- the picker ----------
  function attach(opts) {
    el = opts.el;
    clear = opts.clear;
    detailOf = opts.detailOf;
    var ta = opts.textarea;
    var button = opts.button;
    var cache = { key: null, at: 0, replies: [], variables: [], canEditShared: false };
    var loading = null;

    function fail(res) {
      if (res.status === 401) { if (opts.onUnauthorized) { opts.onUnauthorized(); } return; }
      if (opts.onError) { opts.onError(detailOf(res)); }
    }
    function load(force) {
      var ticket = opts.ticket();
      var key = ticket == null ? "" : String(ticket);
      if (cache.key !== null && cache.key !== key) { note.hidden = true; }  // another chat
      if (!force && cache.key === key && Date.now() - cache.at < CACHE_MS) { return Promise.resolve(cache.replies); }
      if (loading && loading.key === key && !force) { return loading.promise; }
      var url = "/api/console/canned" + (key ? "?ticket=" + encodeURIComponent(key) : "");
      var promise = opts.api("GET", url).then(function (res) {
        if (!res.ok) { fail(res); return cache.replies; }
        var data = res.data || {};
        cache = { key: key, at: Date.now(), replies: Array.isArray(data.replies) ? data.replies : [],
                  variables: Array.isArray(data.variables) ? data.variables : [],
                  canEditShared: !!data.can_edit_shared };
        return cache.replies;
      }, function (err) {
        if (opts.onError) { opts.onError(err.message); }
        return cache.replies;
      }).then(function (replies) { loading = null; return replies; });
      loading = { key: key, promise: promise };
      return promise;
    }

    // The reply box sits in an anchor that the lists open above, over the transcript.
    var anchor = el("div", "canned-anchor");
    ta.parentNode.insertBefore(anchor, ta);
    anchor.appendChild(ta);
    var status = el("div", "visually-hidden");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    var note = el("p", "canned-note");
    note.setAttribute("role", "status");
    note.hidden = true;
    anchor.parentNode.insertBefore(note, anchor.nextSibling);
    anchor.appendChild(status);
    function announce(text) { status.textContent = ""; setTimeout(function () { status.textContent = text; }, 30); }

    var suppress = false;
    function insertAt(text, start, end) {
      ta.focus();
      ta.setRangeText(text, start, end, "end");
      suppress = true;
      try { ta.dispatchEvent(new Event("input", { bubbles: true })); } finally { suppress = false; }
    }
    function insertAtCaret(text, start, end) {
      var value = ta.value;
      if (!value.trim()) { insertAt(text, 0, value.length); return; }
      var before = value.slice(0, start);
      insertAt((before && !/\s$/.test(before) ? "\n" : "") + text, start, end);
    }
    function inserted(title, unknown) {
      var names = (unknown || []).map(function (n) { return "{" + n + "}"; });
      note.hidden = names.length === 0;
      note.textContent = names.length ? "注意：" + names.join("、") + " 不是可用的变量，已原样保留，请在发送前改写。" : "";
      announce("已插入“" + title + "”" + (names.length ? "，" + note.textContent : ""));
    }

    // ----- "/" in the reply box -----
    var pop = el("div", "canned-pop");
    pop.hidden = true;
    var popHint = el("p", "canned-pop-hint", "常用回复 · ↑↓ 选择 · 回车或 Tab 插入 · Esc 关闭");
    popHint.id = "canned-slash-hint";
    var slashList = new Listbox("canned-slash-list", "常用回复", ta);
    var popEmpty = el("p", "canned-empty", "没有匹配的常用回复");
    popEmpty.hidden = true;
    pop.appendChild(popHint);
    pop.appendChild(slashList.node);
    pop.appendChild(popEmpty);
    anchor.appendChild(pop);
    ta.setAttribute("aria-autocomplete", "list");

    var slash = { open: false, start: -1, query: "", dismissed: -1 };
    function slashToken() {
      if (ta.selectionStart !== ta.selectionEnd) { return null; }
      var pos = ta.selectionStart;
      var m = SLASH.exec(ta.value.slice(0, pos));
      return m ? { start: pos - m[2].length - 1, end: pos, query: m[2] } : null;
    }
    function renderSlash() {
      var items = filterReplies(cache.replies, slash.query);
      slashList.show(items, renderReply);
      popEmpty.hidden = items.length > 0;
      popEmpty.textContent = cache.replies.length ? "没有匹配“" + slash.query + "”的常用回复" : "暂无常用回复";
    }
    function openSlash() {
      closePanel(false);
      slash.open = true;
      pop.hidden = false;
      ta.setAttribute("aria-controls", slashList.node.id);
      ta.setAttribute("aria-describedby", popHint.id);
    }
    function closeSlash() {
      if (!slash.open) { return; }
      slash.open = false;
      pop.hidden = true;
      slashList.reset();
      ta.removeAttribute("aria-controls");
      ta.removeAttribute("aria-describedby");
    }
    function onTyping() {
      if (suppress) { return; }
      if (!note.hidden && note.textContent && !/\{[^{}\s]{1,12}\}/.test(ta.value)) { note.hidden = true; }
      var token = slashToken();
      if (!token || token.start === slash.dismissed) {
        if (!token) { slash.dismissed = -1; }
        closeSlash();
        return;
      }
      slash.start = token.start;
      slash.query = token.query;
      if (!slash.open) { openSlash(); }
      renderSlash();
      load(false).then(function () {
        if (slash.open) {
          renderSlash();
          if (slashList.items.length) { announce(slashList.items.length + " 条常用回复"); }
        }
      });
    }
    slashList.onChoose = function (r) {
      var token = slashToken();
      var end = token ? token.end : ta.selectionStart;
      var start = token ? token.start : slash.start;
      closeSlash();
      insertAt(String(r.text), start, end);
      inserted(r.title, r.unknown);
    };
    ta.addEventListener("input", onTyping);
    ta.addEventListener("click", onTyping);
    ta.addEventListener("blur", function () { closeSlash(); });
    ta.addEventListener("focus", function () { if (!/\{[^{}\s]{1,12}\}/.test(ta.value)) { note.hidden = true; } });
    ta.addEventListener("keydown", function (e) {
      if (!slash.open || e.isComposing) { return; }
      if (e.ctrlKey || e.metaKey || e.altKey) {
        if (e.key === "Enter") { closeSlash(); }  // Ctrl+Enter still sends (console.js)
        return;
      }
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        slashList.move(e.key === "ArrowDown" ? 1 : -1);
      } else if ((e.key === "Enter" || (e.key === "Tab" && !e.shiftKey)) && slashList.items.length) {
        e.preventDefault();
        slashList.choose();
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        slash.dismissed = slash.start;
        closeSlash();
      } else if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") {
        setTimeout(onTyping, 0);
      }
    });

    // ----- the 常用回复 button: a panel with a search field and two sources -----
    var panel = el("div", "canned-panel");
    panel.id = "canned-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-labelledby", "canned-panel-title");
    panel.hidden = true;
    var panelTitle = el("h3", "visually-hidden", "插入常用回复或知识库答案");
    panelTitle.id = "canned-panel-title";
    var head = el("div", "canned-panel-head");
    var tabs = el("div", "canned-tabs");
    tabs.setAttribute("role", "tablist");
    tabs.setAttribute("aria-label", "来源");
    function makeTab(id, text) {
      var t = el("button", "canned-tab", text);
      t.type = "button";
      t.id = id;
      t.setAttribute("role", "tab");
      t.setAttribute("aria-controls", "canned-tabpanel");
      tabs.appendChild(t);
      return t;
    }
    var repliesTab = makeTab("canned-tab-replies", "常用回复");
    var faqTab = makeTab("canned-tab-faq", "知识库");
    var manageButton = el("button", "btn btn-sm canned-manage-open", "管理…");
    manageButton.type = "button";
    manageButton.setAttribute("aria-haspopup", "dialog");
    var closeButton = el("button", "btn btn-sm canned-close", "关闭");
    closeButton.type = "button";
    head.appendChild(tabs);
    var foot = el("div", "canned-panel-foot");
    var tabpanel = el("div", "canned-tabpanel");
    tabpanel.id = "canned-tabpanel";
    tabpanel.setAttribute("role", "tabpanel");
    var searchLabel = el("label", "visually-hidden", "搜索");
    searchLabel.htmlFor = "canned-search";
    var search = el("input", "canned-search");
    search.id = "canned-search";
    search.type = "search";
    search.autocomplete = "off";
    search.maxLength = 100;
    search.setAttribute("role", "combobox");
    search.setAttribute("aria-expanded", "true");
    search.setAttribute("aria-autocomplete", "list");
    search.setAttribute("aria-controls", "canned-panel-list");
    var panelList = new Listbox("canned-panel-list", "常用回复", search);
    var panelEmpty = el("p", "canned-empty");
    panelEmpty.hidden = true;
    var panelHint = el("p", "canned-pop-hint", "↑↓ 选择 · 回车插入 · Esc 关闭 · 在回复框输入 / 也能插入");
    tabpanel.appendChild(searchLabel);
    tabpanel.appendChild(search);
    tabpanel.appendChild(panelList.node);
    tabpanel.appendChild(panelEmpty);
    foot.appendChild(panelHint);
    foot.appendChild(manageButton);
    foot.appendChild(closeButton);
    panel.appendChild(panelTitle);
    panel.appendChild(head);
    panel.appendChild(tabpanel);
    panel.appendChild(foot);
    anchor.appendChild(panel);

    var source = "replies";
    var caret = { start: 0, end: 0 };
    var faqSeq = 0, faqTimer = null;

    function selectTab(which, focusTab) {
      source = which;
      [[repliesTab, "replies"], [faqTab, "faq"]].forEach(function (p) {
        var on = p[1] === which;
        p[0].setAttribute("aria-selected", on ? "true" : "false");
        p[0].tabIndex = on ? 0 : -1;
        p[0].classList.toggle("is-active", on);
      });
      tabpanel.setAttribute("aria-labelledby", which === "faq" ? faqTab.id : repliesTab.id);
      panelList.node.setAttribute("aria-label", which === "faq" ? "知识库答案" : "常用回复");
      search.placeholder = which === "faq" ? "搜索知识库，例如：拖欠工资、离婚冷静期" : "按快捷词、标题或内容搜索";
      if (focusTab) { (which === "faq" ? faqTab : repliesTab).focus(); }
      refreshPanel();
    }
    function refreshPanel() {
      if (panel.hidden) { return; }
      if (source === "faq") { searchFaq(); return; }
      var show = function () {
        var items = filterReplies(cache.replies, search.value);
        panelList.show(items, renderReply);
        panelEmpty.hidden = items.length > 0;
        panelEmpty.textContent = cache.replies.length ? "没有匹配的常用回复" : "暂无常用回复，可点“管理…”添加";
      };
      show();
      load(false).then(function () { if (!panel.hidden && source === "replies") { show(); } });
    }
    function searchFaq() {
      var q = search.value.trim();
      if (faqTimer) { clearTimeout(faqTimer); }
      var seq = ++faqSeq;
      if (!q) {
        panelList.show([], renderFaq);
        panelEmpty.hidden = false;
        panelEmpty.textContent = "输入关键词搜索知识库，插入的答案会附上法律依据";
        return;
      }
      faqTimer = setTimeout(function () {
        opts.api("GET", "/api/console/faq?q=" + encodeURIComponent(q)).then(function (res) {
          if (seq !== faqSeq || panel.hidden || source !== "faq") { return; }
          if (!res.ok) { fail(res); return; }
          var entries = (res.data && Array.isArray(res.data.entries)) ? res.data.entries : [];
          panelList.show(entries, renderFaq);
          panelEmpty.hidden = entries.length > 0;
          panelEmpty.textContent = "知识库中没有找到“" + q + "”";
          announce(entries.length + " 条知识库答案");
        }, function (err) { if (opts.onError) { opts.onError(err.message); } });
      }, FAQ_DELAY_MS);
    }
    panelList.onChoose = function (item) {
      closePanel(false);
      if (source === "faq") {
        insertAtCaret(String(item.insert || item.answer), caret.start, caret.end);
        inserted(item.question, []);
      } else {
        insertAtCaret(String(item.text), caret.start, caret.end);
        inserted(item.title, item.unknown);
      }
    };
    function openPanel() {
      closeSlash();
      caret = { start: ta.selectionStart, end: ta.selectionEnd };
      if (document.activeElement !== ta) { caret = { start: ta.value.length, end: ta.value.length }; }
      panel.hidden = false;
      button.setAttribute("aria-expanded", "true");
      search.value = "";
      selectTab(source, false);
      search.focus();
    }
    function closePanel(refocus) {
      if (panel.hidden) { return; }
      panel.hidden = true;
      button.setAttribute("aria-expanded", "false");
      panelList.reset();
      if (refocus) { ta.focus(); }
    }
    button.setAttribute("aria-haspopup", "dialog");
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", panel.id);
    button.addEventListener("click", function () { if (panel.hidden) { openPanel(); } else { closePanel(true); } });
    repliesTab.addEventListener("click", function () { selectTab("replies"); search.focus(); });
    faqTab.addEventListener("click", function () { selectTab("faq"); search.focus(); });
    tabs.addEventListener("keydown", function (e) {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") {
        e.preventDefault();
        selectTab(source === "faq" ? "replies" : "faq", true);
      }
    });
    search.addEventListener("input", function () { refreshPanel(); });
    search.addEventListener("keydown", function (e) {
      if (e.isComposing) { return; }
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        panelList.move(e.key === "ArrowDown" ? 1 : -1);
      } else if (e.key === "Enter") {
        e.preventDefault();
        panelList.choose();
      }
    });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        closePanel(false);
        button.focus();
      }
    });
    closeButton.addEventListener("click", function () { closePanel(false); button.focus(); });
    document.addEventListener("mousedown", function (e) {
      if (!panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) { closePanel(false); }
    });

    // ----- 管理: add, edit and delete replies -----
    var manage = buildManage();
    manageButton.addEventListener("click", function () { closePanel(false); manage.open(); });

    function buildManage() {
      var dialog = el("dialog", "canned-manage");
      dialog.setAttribute("aria-labelledby", "canned-manage-title");
      var title = el("h2", "canned-manage-title", "管理常用回复");
      title.id = "canned-manage-title";
      var intro = el("p", "canned-manage-intro");
      var list = el("ul", "canned-manage-list");
      list.setAttribute("aria-label", "常用回复列表");
      var form = el("form", "canned-form");
      form.noValidate = true;
      var formTitle = el("h3", "canned-form-title", "新增常用回复");
      formTitle.id = "canned-form-title";
      form.setAttribute("aria-labelledby", formTitle.id);
      function field(label, input, hint) {
        var wrap = el("label", "field canned-field");
        wrap.appendChild(el("span", null, label));
        wrap.appendChild(input);
        if (hint) { wrap.appendChild(el("small", "canned-field-hint", hint)); }
        return wrap;
      }
      var fTitle = el("input");
      fTitle.id = "canned-f-title";
      fTitle.maxLength = 40;
      fTitle.autocomplete = "off";
      var fShortcut = el("input");
      fShortcut.id = "canned-f-shortcut";
      fShortcut.maxLength = 20;
      fShortcut.autocomplete = "off";
      fShortcut.spellcheck = false;
      var fText = el("textarea");
      fText.id = "canned-f-text";
      fText.rows = 5;
      fText.maxLength = 2000;
      var vars = el("div", "canned-vars");
      vars.setAttribute("role", "group");
      vars.setAttribute("aria-label", "插入变量");
      var shareRow = el("label", "check canned-share");
      var fShared = el("input");
      fShared.type = "checkbox";
      fShared.id = "canned-f-shared";
      shareRow.appendChild(fShared);
      shareRow.appendChild(el("span", null, "共享给所有律师（仅管理员）"));
      var error = el("p", "form-error");
      error.setAttribute("role", "alert");
      error.hidden = true;
      var actions = el("div", "form-row canned-form-actions");
      var save = el("button", "btn btn-primary btn-sm", "保存");
      save.type = "submit";
      save.id = "canned-save";
      var cancel = el("button", "btn btn-sm", "取消编辑");
      cancel.type = "button";
      cancel.hidden = true;
      var done = el("button", "btn btn-sm", "关闭");
      done.type = "button";
      actions.appendChild(cancel);
      actions.appendChild(done);
      actions.appendChild(save);
      form.appendChild(formTitle);
      form.appendChild(field("标题", fTitle));
      form.appendChild(field("快捷词", fShortcut, "在回复框输入 / 加快捷词即可插入；小写字母、数字、- 和 _，例如 gs"));
      form.appendChild(field("内容", fText));
      form.appendChild(vars);
      form.appendChild(shareRow);
      form.appendChild(error);
      form.appendChild(actions);
      dialog.appendChild(title);
      dialog.appendChild(intro);
      dialog.appendChild(list);
      dialog.appendChild(form);
      document.body.appendChild(dialog);

      var editing = null;
      function showError(msg) { error.textContent = msg; error.hidden = !msg; }
      function resetForm() {
        editing = null;
        formTitle.textContent = "新增常用回复";
        fTitle.value = "";
        fShortcut.value = "";
        fText.value = "";
        fShared.checked = false;
        shareRow.hidden = opts.role() !== "admin";
        cancel.hidden = true;
        save.textContent = "保存";
        showError("");
      }
      function edit(r) {
        editing = r;
        formTitle.textContent = "编辑：" + r.title;
        fTitle.value = r.title;
        fShortcut.value = r.shortcut || "";
        fText.value = r.template || r.text;
        shareRow.hidden = true;
        cancel.hidden = false;
        save.textContent = "保存修改";
        showError("");
        fTitle.focus();
      }
      function renderVars() {
        clear(vars);
        vars.appendChild(el("span", "canned-vars-label", "可用变量："));
        cache.variables.forEach(function (v) {
          var b = el("button", "canned-var", "{" + v.name + "}");
          b.type = "button";
          b.title = v.description;
          b.setAttribute("aria-label", "插入变量 {" + v.name + "}：" + v.description);
          b.addEventListener("click", function () {
            var s = fText.selectionStart, e2 = fText.selectionEnd;
            fText.setRangeText("{" + v.name + "}", s, e2, "end");
            fText.focus();
          });
          vars.appendChild(b);
        });
      }
      function renderList() {
        clear(list);
        intro.textContent = cache.canEditShared
          ? "“我的”只有您自己能看到；共享的所有律师都能使用，由管理员（您）维护。"
          : "“我的”只有您自己能看到和使用；共享的常用回复由管理员维护。";
        cache.replies.forEach(function (r) {
          var li = el("li", "canned-manage-row");
          li.appendChild(el("span", "canned-scope" + (r.mine ? " is-mine" : ""), r.mine ? "我的" : "共享"));
          var name = el("span", "canned-manage-name", r.title);
          li.appendChild(name);
          if (r.shortcut) { li.appendChild(el("span", "canned-shortcut", "/" + r.shortcut)); }
          if (r.editable) {
            var e = el("button", "btn btn-sm", "编辑");
            e.type = "button";
            e.setAttribute("aria-label", "编辑“" + r.title + "”");
            e.addEventListener("click", function () { edit(r); });
            var d = el("button", "btn btn-sm btn-outline-danger", "删除");
            d.type = "button";
            d.setAttribute("aria-label", "删除“" + r.title + "”");
            d.addEventListener("click", function () { remove(r); });
            li.appendChild(e);
            li.appendChild(d);
          }
          list.appendChild(li);
        });
      }
      function reload() {
        return load(true).then(function () { renderList(); renderVars(); });
      }
      function remove(r) {
        if (!window.confirm("删除常用回复“" + r.title + "”？")) { return; }
        opts.api("DELETE", "/api/console/canned/" + encodeURIComponent(r.id)).then(function (res) {
          if (!res.ok) { if (res.status === 401) { fail(res); } else { showError(detailOf(res)); } return; }
          if (editing && editing.id === r.id) { resetForm(); }
          reload().then(function () { announce("已删除“" + r.title + "”"); fTitle.focus(); });
        }, function (err) { showError(err.message); });
      }
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        if (!fText.value.trim()) { showError("回复内容不能为空"); fText.focus(); return; }
        var body = { title: fTitle.value, shortcut: fShortcut.value, text: fText.value };
        var url = "/api/console/canned";
        var method = "POST";
        if (editing) {
          url += "/" + encodeURIComponent(editing.id);
          method = "PUT";
        } else {
          body.shared = !shareRow.hidden && fShared.checked;
        }
        save.disabled = true;
        opts.api(method, url, body).then(function (res) {
          if (!res.ok) { if (res.status === 401) { fail(res); } else { showError(detailOf(res)); } return; }
          var what = res.data && res.data.title;
          resetForm();
          reload().then(function () { announce("已保存“" + what + "”"); fTitle.focus(); });
        }, function (err) { showError(err.message); })
          .then(function () { save.disabled = false; });
      });
      cancel.addEventListener("click", function () { resetForm(); fTitle.focus(); });
      done.addEventListener("click", function () { dialog.close(); });
      dialog.addEventListener("close", function () { button.focus(); });

      return {
        open: function () {
          resetForm();
          renderList();
          renderVars();
          if (dialog.showModal) { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
          fTitle.focus();
          reload();
        },
        close: function () { if (dialog.open) { dialog.close(); } }
      };
    }

    return {
      /** Forget what was loaded and close everything (logout, another account). */
      reset: function () {
        cache = { key: null, at: 0, replies: [], variables: [], canEditShared: false };
        closeSlash();
        closePanel(false);
        manage.close();
        note.hidden = true;
      }
    };
  }

  window.LegalbotCanned = { attach: attach, rankOf: rankOf };
})();
