/* legalbot — the lawyer's workbench on top of the console (console.js attaches it): search and filters,
 * claim-next, keyboard shortcuts, notifications, @mentions, labels, corrections, snooze, reopening, ratings,
 * outcome tags and the lawyer's own page. Plain browser JS; server data only via textContent. */
(function () {
  "use strict";

  var MENTIONS_POLL_MS = 10000;
  var NOTIFY_KEY = "legalbot.console.notify";
  var FILTER_KEY = "legalbot.console.filters";
  var FILTERS = ["status", "sort", "assignee", "priority", "service", "topic", "language", "channel", "label", "tag"];
  var DEFAULTS = { status: "open", sort: "queue" };

  function $(id) { return document.getElementById(id); }

  function attach(ctx) {
    var el = ctx.el, clear = ctx.clear, lookup = ctx.lookup, api = ctx.api;
    var E = {
      search: $("queue-search"), tools: $("queue-tools"), toggle: $("filters-toggle"), more: $("queue-filters"),
      reset: $("filters-reset"), summary: $("filter-summary"), claimNext: $("claim-next"),
      workTools: $("work-tools"), notify: $("notify-toggle"), shortcuts: $("shortcuts-button"),
      dialog: $("shortcuts-dialog"), toasts: $("toasts"),
      mentionsButton: $("mentions-button"), mentionsCount: $("mentions-count"), mentionsPanel: $("mentions-panel"),
      mentionsList: $("mentions-list"), mentionsEmpty: $("mentions-empty"),
      labels: $("labels"), labelForm: $("label-form"), labelInput: $("label-input"), labelOptions: $("label-options"),
      classify: $("classify"), fixService: $("fix-service"), fixTopic: $("fix-topic"), fixSave: $("fix-save"),
      snoozeBox: $("snooze-box"), snoozeState: $("snooze-state"), snoozeFor: $("snooze-for"), snooze: $("snooze"),
      unsnooze: $("unsnooze"), reopenBox: $("reopen-box"), reopen: $("reopen"), closing: $("closing-summary"),
      ratingCard: $("rating-card"), ratingStars: $("rating-stars"), ratingComment: $("rating-comment"),
      tags: $("outcome-tags"), summaryError: $("summary-error"),
      mineTab: $("mine-tab"), mineView: $("mine-view"), mineCards: $("mine-cards"), mineRows: $("mine-rows"),
      mineEmpty: $("mine-empty")
    };
    var select = {};
    FILTERS.forEach(function (name) { select[name] = $("f-" + name); });

    var options = { tags: {}, labels: [] };
    var seen = null;              // ticket id -> {priority, last_in_id, snooze_due, status, mine}: what was notified
    var mentionIds = null;        // mention ids already announced
    var mentionsTimer = null;
    var searchTimer = null;

    // ---------- filters ----------
    function fill(sel, pairs) {
      pairs.forEach(function (p) {
        var o = el("option", null, p[1]);
        o.value = p[0];
        sel.appendChild(o);
      });
    }
    function pairsOf(map) { return Object.keys(map).map(function (k) { return [k, map[k]]; }); }
    fill(select.service, pairsOf(ctx.SERVICES));
    fill(select.topic, pairsOf(ctx.TOPICS));
    fill(select.language, pairsOf(ctx.LANGUAGES));
    fill(select.channel, pairsOf(ctx.CHANNELS));
    fill(E.fixService, [["", "（不变）"]].concat(pairsOf(ctx.SERVICES)));
    fill(E.fixTopic, [["", "（不变）"]].concat(pairsOf(ctx.TOPICS)));

    function values() {
      var v = { q: E.search.value.trim() };
      FILTERS.forEach(function (name) { v[name] = select[name].value; });
      return v;
    }
    function query() {
      var v = values(), parts = [];
      Object.keys(v).forEach(function (k) {
        if (v[k] && v[k] !== DEFAULTS[k]) { parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v[k])); }
      });
      return parts.length ? "?" + parts.join("&") : "";
    }
    // The grouped queue (待认领 / 我处理中 / …) only makes sense for the open queue in its own order.
    function grouped() {
      var v = values();
      return v.status === "open" && v.sort === "queue" && !v.q &&
        FILTERS.every(function (k) { return !v[k] || v[k] === DEFAULTS[k]; });
    }
    function describe(total, shown) {
      if (grouped()) { E.summary.textContent = ""; return; }
      var v = values(), bits = [];
      if (v.q) { bits.push("“" + v.q + "”"); }
      FILTERS.forEach(function (k) {
        if (!v[k] || v[k] === DEFAULTS[k]) { return; }
        var opt = select[k].options[select[k].selectedIndex];
        bits.push(opt ? opt.textContent : v[k]);
      });
      E.summary.textContent = "找到 " + total + " 个" + (shown < total ? "（显示前 " + shown + " 个）" : "") +
        (bits.length ? "：" + bits.join(" · ") : "");
    }
    function changed() {
      try { localStorage.setItem(FILTER_KEY, JSON.stringify(values())); } catch (e) { /* private mode */ }
      ctx.loadQueue(true);
    }
    function restore() {
      var saved = null;
      try { saved = JSON.parse(localStorage.getItem(FILTER_KEY) || "null"); } catch (e) { saved = null; }
      if (!saved || typeof saved !== "object") { return; }
      FILTERS.forEach(function (k) {
        if (typeof saved[k] !== "string") { return; }
        var sel = select[k];
        if (k === "label" && saved[k]) { labelOption(saved[k]); }
        if (Array.prototype.some.call(sel.options, function (o) { return o.value === saved[k]; })) { sel.value = saved[k]; }
      });
      var more = FILTERS.some(function (k) { return ["status", "sort"].indexOf(k) < 0 && select[k].value; });
      showMore(more);
    }
    function labelOption(label) {
      if (Array.prototype.some.call(select.label.options, function (o) { return o.value === label; })) { return; }
      var o = el("option", null, label);
      o.value = label;
      select.label.appendChild(o);
    }
    function showMore(open) {
      E.more.hidden = !open;
      E.toggle.setAttribute("aria-expanded", String(open));
    }
    FILTERS.forEach(function (k) { select[k].addEventListener("change", changed); });
    E.search.addEventListener("input", function () {
      if (searchTimer) { clearTimeout(searchTimer); }
      searchTimer = setTimeout(changed, 300);
    });
    E.tools.addEventListener("submit", function (e) { e.preventDefault(); changed(); });
    E.toggle.addEventListener("click", function () { showMore(E.more.hidden); });
    E.reset.addEventListener("click", function () {
      E.search.value = "";
      FILTERS.forEach(function (k) { select[k].value = DEFAULTS[k] || ""; });
      changed();
    });

    // ---------- options: outcome tags and labels in use ----------
    function loadOptions() {
      return api("GET", "/api/console/workbench").then(function (res) {
        if (!res.ok || !res.data) { return; }
        options = res.data;
        renderTagChoices();
        clear(E.labelOptions);
        (options.labels || []).forEach(function (label) {
          var o = el("option");
          o.value = label;
          E.labelOptions.appendChild(o);
          labelOption(label);
        });
        var tagSel = select.tag;
        if (tagSel.options.length <= 1) { fill(tagSel, pairsOf(options.tags || {})); }
      }, function () { /* next time */ });
    }
    function renderTagChoices() {
      var legend = E.tags.querySelector("legend");
      clear(E.tags);
      E.tags.appendChild(legend);
      Object.keys(options.tags || {}).forEach(function (slug) {
        var label = el("label", "check tag-choice");
        var box = el("input");
        box.type = "checkbox";
        box.value = slug;
        box.name = "outcome-tag";
        label.appendChild(box);
        label.appendChild(el("span", null, options.tags[slug]));
        E.tags.appendChild(label);
      });
    }
    function chosenTags() {
      return Array.prototype.filter.call(E.tags.querySelectorAll("input[type=checkbox]"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
    }
    function clearTags() {
      Array.prototype.forEach.call(E.tags.querySelectorAll("input[type=checkbox]"), function (b) { b.checked = false; });
      E.summaryError.hidden = true;
    }
    function summaryProblem(text) {
      var min = options.min_summary || 4;
      var problem = text.trim().length < min ? "请填写处理摘要（至少" + min + "个字），结案后可在历史中查看。" : "";
      E.summaryError.textContent = problem;
      E.summaryError.hidden = !problem;
      return problem;
    }

    // ---------- the open ticket: labels, correction, snooze, reopen, rating ----------
    var shown = null;  // the ticket the side card shows
    function onTicket(t) {
      shown = t;
      var labels = Array.isArray(t.labels) ? t.labels : [];
      clear(E.labels);
      labels.forEach(function (label) {
        var li = el("li", "label-chip");
        li.appendChild(el("span", null, label));
        var x = el("button", "label-remove", "×");
        x.type = "button";
        x.setAttribute("aria-label", "删除标签 " + label);
        x.addEventListener("click", function () {
          saveLabels(labels.filter(function (l) { return l !== label; }));
        });
        li.appendChild(x);
        E.labels.appendChild(li);
      });
      var mine = t.status === "claimed" && ctx.isMine(t);
      E.snoozeBox.hidden = !mine;
      if (mine) {
        var until = t.snoozed_until ? ctx.fmtDateTime(t.snoozed_until) : "";
        E.snoozeState.textContent = t.snooze_due ? "提醒时间已到（" + until + "），请继续处理。" :
          until ? "已推迟到 " + until + "，届时会提醒您。" : "推迟后此咨询排到队列下方，到时再提醒您。";
        E.unsnooze.hidden = !t.snoozed_until;
      }
      var ended = ["resolved", "expired", "cancelled"].indexOf(t.status) >= 0;
      E.reopenBox.hidden = !ended;
      E.closing.hidden = !(ended && (t.closing_summary || (t.tags && t.tags.length)));
      if (!E.closing.hidden) {
        var tags = (t.tags || []).map(function (s) { return (options.tags || {})[s] || s; });
        E.closing.textContent = "结案摘要：" + (t.closing_summary || "（无）") + (tags.length ? "　标签：" + tags.join("、") : "");
      }
      var r = t.rating;
      E.ratingCard.hidden = !r;
      if (r) {
        var stars = Math.max(0, Math.min(5, Number(r.stars) || 0));
        E.ratingStars.textContent = "★★★★★".slice(0, stars) + "☆☆☆☆☆".slice(0, 5 - stars) + "　" + stars + " 星";
        E.ratingStars.setAttribute("aria-label", "群众评价 " + stars + " 星（满分5星）");
        E.ratingComment.textContent = r.comment || "";
        E.ratingComment.hidden = !r.comment;
      }
    }
    function applyTicket(res) {
      if (!res.ok) { ctx.handleFailure(res); return; }
      ctx.loadTicket();
      ctx.loadQueue();
    }
    function saveLabels(labels) {
      var id = ctx.currentId();
      if (id == null) { return Promise.resolve(); }
      return api("PUT", ctx.ticketUrl(id, "labels"), { labels: labels }).then(function (res) {
        applyTicket(res);
        if (res.ok) { loadOptions(); }  // the labels in use, for the filter and suggestions
      }, function (err) { ctx.showError(err.message); });
    }
    E.labelForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var label = E.labelInput.value.trim();
      if (!label || !shown) { return; }
      var labels = (shown.labels || []).slice();
      if (labels.indexOf(label) < 0) { labels.push(label); }
      saveLabels(labels).then(function () { E.labelInput.value = ""; });
    });
    E.fixSave.addEventListener("click", function () {
      var id = ctx.currentId();
      if (id == null || (!E.fixService.value && !E.fixTopic.value)) { ctx.showError("请选择要更正的服务或法律领域"); return; }
      api("POST", ctx.ticketUrl(id, "classify"), { service: E.fixService.value || null, topic: E.fixTopic.value || null })
        .then(function (res) {
          applyTicket(res);
          if (res.ok) { E.fixService.value = ""; E.fixTopic.value = ""; E.classify.open = false; toast("分类已更正，已记入审核文件"); }
        }, function (err) { ctx.showError(err.message); });
    });
    function minutesFor(choice) {
      if (choice !== "morning") { return Number(choice) || 30; }
      var now = new Date(), next = new Date(now.getTime());
      next.setDate(now.getDate() + 1);
      next.setHours(9, 0, 0, 0);
      return Math.max(1, Math.round((next - now) / 60000));
    }
    function snooze(minutes) {
      var id = ctx.currentId();
      if (id == null) { return; }
      api("POST", ctx.ticketUrl(id, "snooze"), { minutes: minutes }).then(applyTicket, function (err) { ctx.showError(err.message); });
    }
    E.snooze.addEventListener("click", function () { snooze(minutesFor(E.snoozeFor.value)); });
    E.unsnooze.addEventListener("click", function () { snooze(0); });
    E.reopen.addEventListener("click", function () {
      var id = ctx.currentId();
      if (id == null) { return; }
      if (!window.confirm("重新打开咨询 #" + id + "？将由您继续与群众沟通，群众会收到通知。")) { return; }
      E.reopen.disabled = true;
      api("POST", ctx.ticketUrl(id, "reopen")).then(function (res) {
        if (!res.ok) { ctx.handleFailure(res); return; }
        ctx.loadQueue();
        ctx.openTicket(res.data.id);
        toast("已重新打开，新的咨询编号 #" + res.data.id);
      }, function (err) { ctx.showError(err.message); }).then(function () { E.reopen.disabled = false; });
    });

    // ---------- claim next ----------
    function claimNext() {
      E.claimNext.disabled = true;
      return api("POST", "/api/console/queue/claim-next").then(function (res) {
        if (res.status === 404) { toast("队列里没有等待认领的咨询"); return; }
        if (!res.ok) { ctx.handleFailure(res); return; }
        ctx.loadQueue();
        ctx.openTicket(res.data.id);
      }, function (err) { ctx.showError(err.message); }).then(function () { E.claimNext.disabled = false; });
    }
    E.claimNext.addEventListener("click", claimNext);

    // ---------- notifications ----------
    function notifyOn() {
      try { return localStorage.getItem(NOTIFY_KEY) === "on"; } catch (e) { return false; }
    }
    function renderNotify() {
      var on = notifyOn();
      E.notify.setAttribute("aria-pressed", String(on));
      E.notify.textContent = on ? "通知：开" : "通知：关";
    }
    E.notify.addEventListener("click", function () {
      var on = !notifyOn();
      try { localStorage.setItem(NOTIFY_KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
      if (on && window.Notification && Notification.permission === "default") { Notification.requestPermission(); }
      renderNotify();
      if (on) { beep(); }
    });
    var audio = null;
    function beep() {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { return; }
      try {
        audio = audio || new AC();
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.15, audio.currentTime);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start();
        osc.stop(audio.currentTime + 0.4);
      } catch (e) { /* no sound: the toast still shows */ }
    }
    function toast(text, ticketId) {
      var n = el(ticketId != null ? "button" : "div", "toast", text);
      if (ticketId != null) {
        n.type = "button";
        n.addEventListener("click", function () { ctx.openTicket(ticketId); n.remove(); });
      }
      E.toasts.appendChild(n);
      setTimeout(function () { if (n.parentNode) { n.remove(); } }, 8000);
    }
    // What happened since the last poll that a lawyer must not miss: a new urgent chat, a citizen's reply in
    // one's own chat that is not on screen, a snoozed chat whose time came. The first poll only remembers.
    function announce(text, ticketId) {
      toast(text, ticketId);
      if (!notifyOn()) { return; }
      beep();
      if (window.Notification && Notification.permission === "granted" && document.hidden) {
        try {
          var n = new Notification("律师工作台", { body: text, tag: "ticket-" + ticketId });
          n.onclick = function () { window.focus(); ctx.openTicket(ticketId); n.close(); };
        } catch (e) { /* some browsers only allow notifications from a service worker */ }
      }
    }
    function onQueue(list, total) {
      describe(total, list.length);
      if (grouped()) { watch(list); return; }
      // A filtered view says nothing about what is new: watch the open queue itself.
      api("GET", "/api/console/queue").then(function (res) {
        if (res.ok && res.data && grouped() === false) { watch(res.data.tickets || []); }
      }, function () { /* the queue poll reports connection problems */ });
    }
    function watch(list) {
      var next = Object.create(null);
      list.forEach(function (t) {
        var mine = t.status === "claimed" && ctx.isMine(t);
        next[t.id] = { priority: t.priority, last: t.last_in_id, due: !!t.snooze_due, mine: mine };
        if (!seen) { return; }
        var before = seen[t.id];
        var open = String(ctx.currentId()) === String(t.id) && !document.hidden;
        if (t.status === "waiting" && t.priority === "urgent" && (!before || before.priority !== "urgent")) {
          announce("紧急咨询 #" + t.id + "：" + (t.summary || "").slice(0, 40), t.id);
        } else if (mine && before && before.mine && t.last_in_id && t.last_in_id !== before.last && !open) {
          announce("群众在咨询 #" + t.id + " 中回复了", t.id);
        } else if (mine && t.snooze_due && before && !before.due) {
          announce("提醒：咨询 #" + t.id + " 推迟的时间到了", t.id);
        }
      });
      seen = next;
    }

    // ---------- @mentions ----------
    function loadMentions() {
      return api("GET", "/api/console/mentions").then(function (res) {
        if (!res.ok || !res.data) { return; }
        var list = res.data.mentions || [];
        E.mentionsCount.textContent = String(list.length);
        E.mentionsCount.hidden = !list.length;
        clear(E.mentionsList);
        list.forEach(function (m) {
          var li = el("li", "mention");
          var b = el("button", "mention-open");
          b.type = "button";
          b.appendChild(el("strong", null, (m.author || "同事") + " · 咨询 #" + m.ticket_id));
          b.appendChild(el("span", "mention-text", m.text));
          b.addEventListener("click", function () { closeMentions(); ctx.openTicket(m.ticket_id); });
          li.appendChild(b);
          E.mentionsList.appendChild(li);
        });
        E.mentionsEmpty.hidden = list.length > 0;
        var fresh = list.filter(function (m) { return mentionIds && !mentionIds[m.id]; });
        fresh.forEach(function (m) { announce((m.author || "同事") + " 在咨询 #" + m.ticket_id + " 的备注里提到了您", m.ticket_id); });
        mentionIds = Object.create(null);
        list.forEach(function (m) { mentionIds[m.id] = true; });
      }, function () { /* the queue poll reports connection problems */ });
    }
    function closeMentions() {
      E.mentionsPanel.hidden = true;
      E.mentionsButton.setAttribute("aria-expanded", "false");
    }
    E.mentionsButton.addEventListener("click", function () {
      var open = E.mentionsPanel.hidden;
      E.mentionsPanel.hidden = !open;
      E.mentionsButton.setAttribute("aria-expanded", String(open));
      if (open) { loadMentions(); var first = E.mentionsList.querySelector("button"); if (first) { first.focus(); } }
    });

    // ---------- the lawyer's own page ----------
    function loadMine() {
      return api("GET", "/api/console/me/page").then(function (res) {
        if (!res.ok || !res.data) { ctx.handleFailure(res); return; }
        var p = res.data;
        clear(E.mineCards);
        [["结束的咨询", p.resolved], ["收到评价", p.rated],
         ["平均评分", p.average == null ? "—" : p.average + " 星"]].forEach(function (c) {
          var card = el("div", "stats-figure");
          card.appendChild(el("div", "stats-value", c[1]));
          card.appendChild(el("div", "stats-label", c[0]));
          E.mineCards.appendChild(card);
        });
        clear(E.mineRows);
        (p.tickets || []).forEach(function (t) {
          var tr = el("tr");
          var idCell = el("td");
          var open = el("button", "link-button", "#" + t.id);
          open.type = "button";
          open.addEventListener("click", function () { ctx.openTicket(t.id); });
          idCell.appendChild(open);
          tr.appendChild(idCell);
          tr.appendChild(el("td", null, t.resolved_at ? ctx.fmtDateTime(t.resolved_at) : ""));
          tr.appendChild(el("td", null, lookup(ctx.TOPICS, t.topic) || "未分类"));
          tr.appendChild(el("td", null, lookup(ctx.OUTCOMES, t.outcome)));
          tr.appendChild(el("td", null, t.summary));
          var r = t.rating;
          tr.appendChild(el("td", null, r ? r.stars + " 星" + (r.comment ? "：" + r.comment : "") : "未评价"));
          E.mineRows.appendChild(tr);
        });
        E.mineEmpty.hidden = (p.tickets || []).length > 0;
      }, function (err) { ctx.showError(err.message); });
    }

    // ---------- keyboard ----------
    function typing(target) {
      if (!target) { return false; }
      var tagName = target.tagName;
      return tagName === "INPUT" || tagName === "TEXTAREA" || tagName === "SELECT" || target.isContentEditable;
    }
    function move(step) {
      var order = ctx.order();
      if (!order.length) { return; }
      var at = order.indexOf(String(ctx.currentId()));
      var next = at < 0 ? (step > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + step));
      ctx.openTicket(order[next]);
      var row = document.querySelector('.ticket[data-id="' + order[next] + '"]');
      if (row) { row.scrollIntoView({ block: "nearest" }); }
    }
    function showHelp() {
      if (E.dialog.open) { return; }
      if (E.dialog.showModal) { E.dialog.showModal(); } else { E.dialog.setAttribute("open", ""); }
    }
    E.shortcuts.addEventListener("click", showHelp);
    document.addEventListener("keydown", function (e) {
      if (!ctx.me() || ctx.tab() !== "work" || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) { return; }
      if (e.defaultPrevented || (e.target && e.target.closest && e.target.closest("dialog"))) { return; }  // a popup's own keys
      if (e.key === "Escape") {
        if (!E.mentionsPanel.hidden) { closeMentions(); E.mentionsButton.focus(); return; }
        if (typing(e.target) && e.target !== document.body) { e.target.blur(); }
        return;
      }
      if (typing(e.target) || E.dialog.open) { return; }
      var t = ctx.current();
      var mine = t && t.status === "claimed" && ctx.isMine(t);
      var handled = true;
      switch (e.key) {
        case "j": case "ArrowDown": move(1); break;
        case "k": case "ArrowUp": move(-1); break;
        case "n": claimNext(); break;
        case "c": if (t && t.status === "waiting") { ctx.claim(t.id); } else { handled = false; } break;
        case "r": if (mine) { ctx.focus("reply"); } else { toast("请先认领此咨询"); } break;
        case "e": if (mine) { ctx.focus("resolve"); } else { toast("只能结束自己处理中的咨询"); } break;
        case "o": if (t) { ctx.focus("note"); } else { handled = false; } break;
        case "l": if (t) { E.labelInput.focus(); } else { handled = false; } break;
        case "s": if (mine) { E.snoozeFor.focus(); } else { handled = false; } break;
        case "/": E.search.focus(); E.search.select(); break;
        case "?": showHelp(); break;
        default: handled = false;
      }
      if (handled) { e.preventDefault(); }
    });

    // ---------- lifecycle ----------
    function start() {
      E.workTools.hidden = false;
      renderNotify();
      restore();
      loadOptions();
      seen = null;
      mentionIds = null;
      loadMentions();
      if (mentionsTimer) { clearInterval(mentionsTimer); }
      mentionsTimer = setInterval(loadMentions, MENTIONS_POLL_MS);
    }
    function stop() {
      if (mentionsTimer) { clearInterval(mentionsTimer); mentionsTimer = null; }
      E.workTools.hidden = true;
      closeMentions();
      seen = null;
      shown = null;
    }

    return {
      query: query, grouped: grouped, onQueue: onQueue, onTicket: onTicket, start: start, stop: stop,
      tags: chosenTags, clearTags: clearTags, summaryProblem: summaryProblem, loadMine: loadMine,
      options: function () { return options; }
    };
  }

  window.LegalbotWorkbench = { attach: attach };
})();
