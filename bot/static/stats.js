// The console's 统计 view (managers and admins): the figures of handoff/stats.py drawn with Apache ECharts
// (vendored, bot/static/vendor). Every chart shows its definition; the exports are the same rows as
// `legalbot report`. console.js calls LegalbotStats.start() when the tab opens and stop() when it closes.
(function () {
  "use strict";

  var API = "/api/console/stats";
  var OUTCOMES = [
    ["answered", "已解答（机器人）", "#1d4f91"], ["resolved_by_lawyer", "律师已解答", "#1f7a45"],
    ["referred", "已转介", "#6b8fd6"], ["emergency_referred", "紧急转介", "#c62828"],
    ["out_of_scope", "非法律问题", "#9aa3ad"], ["abandoned", "中途离开", "#d9a400"],
    ["withdrawn", "已取消", "#b07cc6"], ["open", "进行中", "#d5dbe3"]
  ];
  var WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
  var FILTERS = ["channel", "service", "topic", "district", "language", "urgent"];
  var WHY = { no_entry: "知识库没有", none_fit: "答案不合适", none_of_these: "都不是", unclear_after_clarifying: "追问后不清楚",
              not_helpful: "没有帮助", clarified: "需追问", handed_off: "转人工", low_confidence: "把握低" };
  var TOPIC = {};
  var charts = {};
  var started = false, busy = false, again = false, optionsLoaded = false;

  function $(id) { return document.getElementById(id); }
  function pct(x) { return x == null ? "—" : (x * 100).toFixed(1) + "%"; }
  function num(x) { return x == null ? "—" : String(x); }
  function iso(d) { return d.toISOString().slice(0, 10); }

  function get(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
      });
  }

  function params() {
    var q = new URLSearchParams();
    q.set("since", $("stats-since").value);
    q.set("until", $("stats-until").value);
    FILTERS.forEach(function (name) {
      var v = $("stats-" + name).value;
      if (v) { q.set(name, v); }
    });
    return q;
  }

  function exportLinks() {
    var by = $("stats-by").value;
    ["csv", "xlsx"].forEach(function (fmt) {
      var q = params();
      q.set("by", by);
      q.set("format", fmt);
      $("stats-" + fmt).href = API + "/export?" + q.toString();
    });
    $("stats-report").href = API + "/report?" + params().toString();
    ["yaml", "csv"].forEach(function (fmt) {
      var q = params();
      q.set("format", fmt);
      $("gaps-" + fmt).href = API + "/gaps/export?" + q.toString();
    });
  }

  function fill(select, items) {
    items.forEach(function (item) {
      var o = document.createElement("option");
      o.value = typeof item === "string" ? item : item.value;
      o.textContent = typeof item === "string" ? item : item.label;
      select.appendChild(o);
    });
  }

  function loadOptions() {
    if (optionsLoaded) { return Promise.resolve(); }
    return get(API + "/options").then(function (res) {
      if (!res.ok) { return; }
      fill($("stats-channel"), res.data.channels || []);
      fill($("stats-service"), res.data.services || []);
      fill($("stats-topic"), res.data.topics || []);
      (res.data.topics || []).forEach(function (t) { TOPIC[t.value] = t.label; });
      fill($("stats-district"), res.data.districts || []);
      fill($("stats-language"), res.data.languages || []);
      optionsLoaded = true;
    });
  }

  function chart(id) {
    if (!charts[id]) { charts[id] = window.echarts.init($(id), null, { renderer: "svg" }); }
    return charts[id];
  }

  function card(label, value, detail, key) {
    var el = document.createElement("div");
    el.className = "stats-figure";
    el.setAttribute("data-figure", key);
    var v = document.createElement("div");
    v.className = "stats-value";
    v.textContent = value;
    var l = document.createElement("div");
    l.className = "stats-label";
    l.textContent = label;
    el.appendChild(v);
    el.appendChild(l);
    if (detail) {
      var d = document.createElement("div");
      d.className = "stats-detail muted small";
      d.textContent = detail;
      el.appendChild(d);
    }
    return el;
  }

  function table(el, head, rows) {
    el.textContent = "";
    var thead = document.createElement("thead"), tr = document.createElement("tr");
    head.forEach(function (h) { var th = document.createElement("th"); th.scope = "col"; th.textContent = h; tr.appendChild(th); });
    thead.appendChild(tr);
    el.appendChild(thead);
    var tbody = document.createElement("tbody");
    rows.forEach(function (row) {
      var r = document.createElement("tr");
      row.forEach(function (cell) { var td = document.createElement("td"); td.textContent = cell; r.appendChild(td); });
      tbody.appendChild(r);
    });
    if (!rows.length) {
      var r = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = head.length;
      td.className = "muted";
      td.textContent = "暂无数据";
      r.appendChild(td);
      tbody.appendChild(r);
    }
    el.appendChild(tbody);
  }

  function render(f) {
    var s = f.summary, w = f.waiting, sat = f.satisfaction, defs = f.definitions || {};
    document.querySelectorAll("[data-definition]").forEach(function (p) { p.textContent = defs[p.getAttribute("data-definition")] || ""; });
    var cards = $("stats-cards");
    cards.textContent = "";
    cards.appendChild(card("对话数", num(s.conversations), "已结束 " + s.closed + "，进行中 " + s.open, "conversations"));
    cards.appendChild(card("机器人自助解决率", pct(s.auto_resolution_rate), s.auto_resolved + " 个对话", "auto_resolution_rate"));
    cards.appendChild(card("转人工率", pct(s.handoff_rate), s.handoffs + " 个对话", "handoff_rate"));
    cards.appendChild(card("再次来询率", pct(s.reopen_rate), f.scope.reopen_days + " 天内", "reopen_rate"));
    cards.appendChild(card("等待接单（中位数）", w.wait_p50_minutes == null ? "—" : w.wait_p50_minutes + " 分钟",
                           "p90 " + num(w.wait_p90_minutes) + " 分钟；超时 " + w.sla_breaches + " 单", "wait_to_claim"));
    cards.appendChild(card("首次回复（中位数）", w.first_reply_p50_minutes == null ? "—" : w.first_reply_p50_minutes + " 分钟",
                           "p90 " + num(w.first_reply_p90_minutes) + " 分钟", "first_reply"));
    cards.appendChild(card("不必要转人工", pct(w.needless_handoff_rate), w.needless + " / " + w.resolved_by_lawyer + " 单", "needless_handoff_rate"));
    cards.appendChild(card("满意度", sat.csat_avg == null ? "—" : sat.csat_avg + " 星", sat.ratings + " 个评价", "csat"));

    var days = f.daily.map(function (d) { return d.date.slice(5); });
    chart("chart-daily").setOption({
      tooltip: { trigger: "axis" }, legend: { bottom: 0, type: "scroll" },
      grid: { left: 40, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: days }, yAxis: { type: "value", minInterval: 1 },
      series: OUTCOMES.map(function (o) {
        return { name: o[1], type: "bar", stack: "all", itemStyle: { color: o[2] },
                 data: f.daily.map(function (d) { return d[o[0]]; }) };
      })
    }, true);

    var heat = [], max = 0;
    f.volumes.weekday_hour.forEach(function (row, wd) {
      row.forEach(function (n, hr) { heat.push([hr, wd, n]); if (n > max) { max = n; } });
    });
    chart("chart-heat").setOption({
      tooltip: { formatter: function (p) { return WEEKDAYS[p.value[1]] + " " + p.value[0] + " 时：" + p.value[2]; } },
      grid: { left: 48, right: 16, top: 8, bottom: 80 },
      xAxis: { type: "category", data: Array.from({ length: 24 }, function (_, i) { return String(i); }), splitArea: { show: true } },
      yAxis: { type: "category", data: WEEKDAYS, inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: Math.max(1, max), calculable: true, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120,
                   inRange: { color: ["#f3f5f8", "#1d4f91"] } },
      series: [{ type: "heatmap", data: heat }]
    }, true);

    var names = f.reason_names || {};
    var reasons = Object.keys(f.reasons);
    chart("chart-reasons").setOption({
      tooltip: {}, grid: { left: 150, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: reasons.map(function (r) { return names[r] || r; }) },
      series: [{ type: "bar", itemStyle: { color: "#6b8fd6" }, data: reasons.map(function (r) { return f.reasons[r]; }),
                 label: { show: true, position: "right" } }]
    }, true);

    chart("chart-csat").setOption({
      tooltip: {}, grid: { left: 40, right: 16, top: 16, bottom: 28 },
      xAxis: { type: "category", data: ["1 星", "2 星", "3 星", "4 星", "5 星"] }, yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", itemStyle: { color: "#d9a400" }, label: { show: true, position: "top" },
                 data: ["1", "2", "3", "4", "5"].map(function (k) { return sat.distribution[k]; }) }]
    }, true);

    var t = f.funnel.total;
    chart("chart-funnel").setOption({
      tooltip: { trigger: "item", formatter: "{b}：{c}" },
      series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "20%", top: 8, bottom: 8,
                 label: { show: true, position: "inside", formatter: "{b} {c}" },
                 data: [{ name: "提交", value: t.submitted, itemStyle: { color: "#6b8fd6" } },
                        { name: "已受理", value: t.taken_up, itemStyle: { color: "#1d4f91" } },
                        { name: "已办结", value: t.completed, itemStyle: { color: "#1f7a45" } }] }]
    }, true);
    table($("funnel-table"), ["申请", "提交", "受理", "办结", "不予受理", "撤回", "办理中", "按期", "逾期", "受理天数p50"],
          f.funnel.forms.map(function (x) {
            return [x.title, x.submitted, x.taken_up, x.completed, x.refused, x.withdrawn, x.open, x.on_time,
                    x.late + x.overdue_open, num(x.taken_up_p50_days)];
          }));
    table($("workload-table"), ["律师", "接单", "结案", "处理中", "处理时长p50（分钟）", "标记不必要", "平均满意度"],
          f.workload.map(function (x) {
            return [x.lawyer, x.claimed, x.resolved, x.open, num(x.handling_p50_minutes), x.needless_marked, num(x.csat_avg)];
          }));
    table($("office-table"), ["办理机构", "评价数", "平均", "不满意"],
          f.funnel.office_csat.map(function (x) { return [x.office, x.ratings, x.csat_avg, x.poor]; }));

    var dl = $("stats-definitions");
    dl.textContent = "";
    Object.keys(defs).forEach(function (k) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = defs[k];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    $("stats-status").textContent = "统计范围：" + f.scope.since + " 至 " + f.scope.until + "（" + f.scope.timezone + "）";
  }

  function load() {
    if (busy) { again = true; return Promise.resolve(); }  // asked while counting: count again afterwards
    busy = true;
    again = false;
    exportLinks();
    $("stats-status").textContent = "正在统计…";
    return get(API + "?" + params().toString()).then(function (res) {
      if (!res.ok) {
        $("stats-status").textContent = "无法统计：" + ((res.data && res.data.detail) || res.status);
        return;
      }
      render(res.data);
      return get(API + "/gaps?" + params().toString()).then(function (gaps) {
        if (!gaps.ok) { return; }
        var names = res.data.reason_names || {};
        table($("gaps-table"), ["组", "问题数", "对话数", "例句", "领域", "原因", "最近"],
              gaps.data.clusters.slice(0, 30).map(function (c) {
                var why = Object.keys(c.why).map(function (k) { return (WHY[k] || names[k] || k) + " " + c.why[k]; }).join("，");
                return [c.cluster, c.count, c.conversations, c.example, TOPIC[c.topic] || c.topic || "—", why,
                        (c.last_seen || "").slice(0, 10)];
              }));
      });
    }, function () {
      $("stats-status").textContent = "无法连接服务器，请检查网络后重试";
    }).then(function () {
      busy = false;
      if (again) { return load(); }
    });
  }

  function start() {
    if (!started) {
      var until = new Date(), since = new Date();
      since.setDate(until.getDate() - 29);
      $("stats-since").value = iso(since);
      $("stats-until").value = iso(until);
      $("stats-filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
      $("stats-filters").addEventListener("change", exportLinks);
      window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
      started = true;
    }
    return loadOptions().then(load);
  }

  function stop() { /* nothing polls: the figures change only when asked */ }

  window.LegalbotStats = { start: start, stop: stop };
})();
