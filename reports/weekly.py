"""The report a bureau forwards: one self-contained HTML page (charts inline as SVG, no script, no link to the
server) for a range, usually a week, made from the same figures as the console (reports/metrics.py), beside
those of the period just before it."""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any

from sqlmodel import Session

from reports import metrics
from reports.metrics import Scope

OUTCOME_NAMES = {"answered": "已解答（机器人）", "resolved_by_lawyer": "律师已解答", "referred": "已转介",
                 "emergency_referred": "紧急转介", "out_of_scope": "非法律问题", "abandoned": "中途离开",
                 "withdrawn": "已取消", "open": "进行中"}
OUTCOME_COLOURS = ["#1d4f91", "#1f7a45", "#6b8fd6", "#c62828", "#9aa3ad", "#d9a400", "#b07cc6", "#d5dbe3"]
#: The fonts tried for Chinese in the charts; without any, the charts' labels fall back to the slugs.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")


def previous(scope: Scope) -> Scope:
    """The period of the same length just before, with the same filters."""
    days = (scope.until - scope.since).days + 1
    return Scope(scope.since - dt.timedelta(days=days), scope.since - dt.timedelta(days=1), scope.timezone,
                 **scope.filters())


def render(session: Session, scope: Scope, *, sla_minutes: int, reopen_days: int = 7, forms: dict[str, Any] | None = None,
           office_names: dict[str, str] | None = None, title: str = "12348 公共法律服务 · 智能咨询周报",
           now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    this = metrics.overview(session, scope, sla_minutes=sla_minutes, reopen_days=reopen_days, forms=forms,
                            office_names=office_names, now=now)
    before = metrics.overview(session, previous(scope), sla_minutes=sla_minutes, reopen_days=reopen_days,
                              forms=forms, office_names=office_names, now=now)
    days = [(dt.date.fromisoformat(row["date"]), row) for row in this["daily"]]
    s, b = this["summary"], before["summary"]
    w, bw = this["waiting"], before["waiting"]
    key = [
        ("对话数", s["conversations"], b["conversations"], "count", "conversations"),
        ("机器人自助解决率", s["auto_resolution_rate"], b["auto_resolution_rate"], "rate", "auto_resolution_rate"),
        ("转人工率", s["handoff_rate"], b["handoff_rate"], "rate", "handoff_rate"),
        ("再次来询率", s["reopen_rate"], b["reopen_rate"], "rate", "reopen_rate"),
        ("等待接单中位数（分钟）", w["wait_p50_minutes"], bw["wait_p50_minutes"], "minutes", "wait_to_claim"),
        ("首次回复中位数（分钟）", w["first_reply_p50_minutes"], bw["first_reply_p50_minutes"], "minutes", "first_reply"),
        ("超时未接单", w["sla_breaches"], bw["sla_breaches"], "count", "sla_breaches"),
        ("不必要转人工率", w["needless_handoff_rate"], bw["needless_handoff_rate"], "rate", "needless_handoff_rate"),
        ("平均满意度（星）", this["satisfaction"]["csat_avg"], before["satisfaction"]["csat_avg"], "stars", "csat"),
        ("提交的申请", this["funnel"]["total"]["submitted"], before["funnel"]["total"]["submitted"], "count", "funnel"),
    ]
    e = html.escape
    parts = [f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} {scope.since} 至 {scope.until}</title>
<style>
body {{ font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; color: #1f2328; max-width: 960px;
       margin: 24px auto; padding: 0 16px; line-height: 1.5; }}
h1 {{ color: #1d4f91; font-size: 1.5rem; }} h2 {{ color: #1d4f91; font-size: 1.15rem; margin-top: 28px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.92rem; }}
th, td {{ border-bottom: 1px solid #d5dbe3; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.muted {{ color: #5b6470; font-size: 0.85rem; }} .up {{ color: #1f7a45; }} .down {{ color: #c62828; }}
figure {{ margin: 8px 0; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{e(title)}</h1>
<p>统计范围：{scope.since} 至 {scope.until}（{e(scope.timezone)}）；对比上一期：{previous(scope).since} 至 {previous(scope).until}。
{e(_filters(scope))}生成于 {now.astimezone(scope.tz):%Y-%m-%d %H:%M}。</p>
<h2>主要指标</h2>
<table><thead><tr><th>指标</th><th>本期</th><th>上一期</th><th>变化</th></tr></thead><tbody>"""]
    for label, now_value, then_value, kind, _ in key:
        parts.append(f"<tr><td>{e(label)}</td><td>{_fmt(now_value, kind)}</td><td>{_fmt(then_value, kind)}</td>"
                     f"<td>{_change(now_value, then_value, kind)}</td></tr>")
    parts.append("</tbody></table>")
    parts.append('<p class="muted">' + "<br>".join(e(metrics.DEFINITIONS[k][0]) for *_, k in key) + "</p>")
    parts.append("<h2>每日来询量与结果</h2><figure>" + _daily_svg(days) + "</figure>")
    parts.append("<h2>来询时段（星期 × 小时）</h2><figure>" + _heat_svg(this["volumes"]["weekday_hour"]) + "</figure>")
    parts.append("<h2>结果构成</h2><table><thead><tr><th>结果</th><th>对话数</th><th>占比</th></tr></thead><tbody>")
    for slug in metrics.OUTCOME_COLUMNS:
        n = s[slug]
        parts.append(f"<tr><td>{e(OUTCOME_NAMES[slug])}</td><td>{n}</td>"
                     f"<td>{_fmt(n / s['conversations'] if s['conversations'] else None, 'rate')}</td></tr>")
    parts.append(f"<tr><th>合计</th><th>{s['conversations']}</th><th></th></tr></tbody></table>")
    parts.append("<h2>转人工原因</h2><table><thead><tr><th>原因</th><th>对话数</th></tr></thead><tbody>")
    for reason, n in this["reasons"].items():
        parts.append(f"<tr><td>{e(metrics.REASONS.get(reason, reason))}</td><td>{n}</td></tr>")
    parts.append(f"<tr><th>合计</th><th>{s['handoffs']}</th></tr></tbody></table>")
    parts.append("<h2>办事申请</h2><table><thead><tr><th>申请</th><th>提交</th><th>受理</th><th>办结</th><th>不予受理</th>"
                 "<th>撤回</th><th>办理中</th><th>按期</th><th>逾期</th></tr></thead><tbody>")
    for f in this["funnel"]["forms"]:
        parts.append(f"<tr><td>{e(str(f['title']))}</td><td>{f['submitted']}</td><td>{f['taken_up']}</td>"
                     f"<td>{f['completed']}</td><td>{f['refused']}</td><td>{f['withdrawn']}</td><td>{f['open']}</td>"
                     f"<td>{f['on_time']}</td><td>{f['late'] + f['overdue_open']}</td></tr>")
    parts.append("</tbody></table>")
    parts.append("<h2>律师工作量</h2><table><thead><tr><th>律师</th><th>接单</th><th>结案</th><th>处理时长中位数（分钟）</th>"
                 "<th>平均满意度</th></tr></thead><tbody>")
    for row in this["workload"]:
        parts.append(f"<tr><td>{e(str(row['lawyer']))}</td><td>{row['claimed']}</td><td>{row['resolved']}</td>"
                     f"<td>{_fmt(row['handling_p50_minutes'], 'minutes')}</td><td>{_fmt(row['csat_avg'], 'stars')}</td></tr>")
    parts.append("</tbody></table>")
    parts.append('<p class="muted">各项指标的定义见 docs/reports.md；数字与控制台“统计”页和 legalbot report 的导出一致。</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _filters(scope: Scope) -> str:
    f = scope.filters()
    return ("筛选：" + "，".join(f"{k}={v}" for k, v in f.items()) + "。") if f else ""


def _fmt(value: float | int | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind in ("minutes", "stars"):
        return f"{value:g}"
    return str(value)


def _change(now: float | int | None, then: float | int | None, kind: str) -> str:
    if now is None or then is None:
        return "—"
    delta = now - then
    if kind == "rate":
        text = f"{delta * 100:+.1f} 个百分点"
    elif kind == "count" and then:
        text = f"{delta:+d}（{delta / then * 100:+.0f}%）"
    else:
        text = f"{delta:+g}"
    return text


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _daily_svg(days: list[tuple[dt.date, dict[str, Any]]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _cjk_font()
    with plt.rc_context({"font.family": [font] if font else ["sans-serif"], "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        bottom = [0] * len(days)
        labels = [d.strftime("%m-%d") for d, _ in days]
        for slug, colour in zip(metrics.OUTCOME_COLUMNS, OUTCOME_COLOURS, strict=True):
            values = [row[slug] for _, row in days]
            ax.bar(labels, values, bottom=bottom, color=colour, label=OUTCOME_NAMES[slug] if font else slug, width=0.7)
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        ax.legend(ncol=4, fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.15))
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=8, rotation=45 if len(days) > 10 else 0)
        svg = _svg(fig)
        plt.close(fig)
    return svg


def _heat_svg(grid: list[list[int]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _cjk_font()
    weekdays = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"] if font else ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    with plt.rc_context({"font.family": [font] if font else ["sans-serif"], "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(9, 2.8))
        image = ax.imshow(grid, aspect="auto", cmap="Blues")
        ax.set_yticks(range(7), weekdays, fontsize=8)
        ax.set_xticks(range(24), [str(h) for h in range(24)], fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.03)
        svg = _svg(fig)
        plt.close(fig)
    return svg
