"""The bureau's figures (reports/metrics.py) recomputed from the raw rows of generated traffic, on SQLite and
PostgreSQL: every count, rate, percentile and breakdown, and the parts of each breakdown adding up."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from typer.testing import CliRunner

from bench.traffic import Shape, generate
from bot.cli import app
from bot.settings import Settings, get_settings
from bot.store import Application, ApplicationEvent, Conversation, Feedback, HandoffTicket, Lawyer, Store
from reports import metrics, weekly
from reports.metrics import Scope, ScopeError
from tests.conftest import pg_database

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)
SLA = 10
SHAPE = Shape(conversations=1500, days=40, end=dt.date(2026, 11, 30))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One generated data set per database for the whole module: the tests only read it."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'legalbot.db'}"
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("pg_server"),
                                                  request.getfixturevalue("pg_template")))
        s = Store(url)
        s.upgrade()
        generate(s, SHAPE, batch=500)
        yield s
        s.dispose()


class Raw:
    """Every row the figures come from, read back plainly."""

    def __init__(self, store: Store) -> None:
        with store.session() as session:
            self.conversations = list(session.exec(select(Conversation)).all())
            self.tickets = list(session.exec(select(HandoffTicket)).all())
            self.feedback = list(session.exec(select(Feedback)).all())
            self.applications = list(session.exec(select(Application)).all())
            self.events = list(session.exec(select(ApplicationEvent)).all())
            self.names = {lawyer.id: lawyer.display_name for lawyer in session.exec(select(Lawyer)).all()}

    def selected(self, scope: Scope) -> list[Conversation]:
        def local_day(c: Conversation) -> dt.date:
            return c.opened_at.astimezone(TZ).date()
        return [c for c in self.conversations if scope.since <= local_day(c) <= scope.until
                and all(getattr(c, k) == v for k, v in scope.filters().items())]


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(p / 100 * len(ordered)) - 1], 1)


def minutes(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 60


def expected_counts(raw: Raw, chosen: list[Conversation], reopen_days: int = 7) -> dict[str, Any]:
    handed = {t.conversation_id for t in raw.tickets}
    by_citizen: dict[int, list[Conversation]] = defaultdict(list)
    for c in raw.conversations:
        by_citizen[c.citizen_id].append(c)

    def came_back(c: Conversation) -> bool:
        return c.closed_at is not None and any(
            o.id != c.id and c.closed_at < o.opened_at <= c.closed_at + dt.timedelta(days=reopen_days)
            for o in by_citizen[c.citizen_id])

    outcomes = Counter(c.outcome or "open" for c in chosen)
    answered = [c for c in chosen if c.outcome == "answered"]
    closed = [c for c in chosen if c.outcome]
    auto = [c for c in answered if c.id not in handed and not came_back(c)]
    reopened = [c for c in answered if came_back(c)]
    n_handed = sum(c.id in handed for c in chosen)
    return {"conversations": len(chosen), **{k: outcomes.get(k, 0) for k in metrics.OUTCOME_COLUMNS},
            "closed": len(closed), "handoffs": n_handed, "auto_resolved": len(auto), "reopened": len(reopened),
            "auto_resolution_rate": round(len(auto) / len(closed), 4) if closed else None,
            "handoff_rate": round(n_handed / len(chosen), 4) if chosen else None,
            "reopen_rate": round(len(reopened) / len(answered), 4) if answered else None}


SCOPES = [
    Scope(dt.date(2026, 10, 22), dt.date(2026, 11, 30)),
    Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 15), channel="wechat"),
    Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 30), service="legal_aid", language="zh"),
    Scope(dt.date(2026, 11, 10), dt.date(2026, 11, 30), topic="labor", urgent=False, district="南湖区"),
    Scope(dt.date(2026, 11, 20), dt.date(2026, 11, 20)),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.filters().items()) or "all")
def test_conversation_figures_are_those_of_the_raw_rows(store: Store, scope: Scope) -> None:
    raw = Raw(store)
    chosen = raw.selected(scope)
    assert chosen or scope.since == scope.until  # the generated data reaches every filter
    with store.session() as session:
        got = metrics.overview(session, scope, sla_minutes=SLA, now=NOW)
    want = expected_counts(raw, chosen)
    assert got["summary"] == want
    # The parts add up: outcomes and still open to the conversations, reasons to the handoffs.
    assert sum(got["summary"][k] for k in metrics.OUTCOME_COLUMNS) == got["summary"]["conversations"]
    assert sum(got["reasons"].values()) == got["summary"]["handoffs"]
    assert [d["date"] for d in got["daily"]] == [d.isoformat() for d in scope.days()]
    for column in ("conversations", "answered", "open", "handoffs", "auto_resolved"):
        assert sum(d[column] for d in got["daily"]) == got["summary"][column], column
    ids = {c.id for c in chosen}
    first: dict[int, HandoffTicket] = {}
    for t in sorted(raw.tickets, key=lambda t: t.id or 0):
        if t.conversation_id in ids:
            first.setdefault(t.conversation_id, t)
    assert got["reasons"] == dict(Counter(t.reason for t in first.values()))


@pytest.mark.parametrize("scope", SCOPES[:3], ids=["all", "wechat", "legal_aid"])
def test_volumes_by_day_and_by_weekday_and_hour(store: Store, scope: Scope) -> None:
    raw = Raw(store)
    chosen = raw.selected(scope)
    with store.session() as session:
        got = metrics.volumes(session, scope)
    per_day = Counter(c.opened_at.astimezone(TZ).date().isoformat() for c in chosen)
    assert got["days"] == [{"date": d.isoformat(), "conversations": per_day.get(d.isoformat(), 0)} for d in scope.days()]
    grid = [[0] * 24 for _ in range(7)]
    for c in chosen:
        local = c.opened_at.astimezone(TZ)
        grid[local.isoweekday() - 1][local.hour] += 1
    assert got["weekday_hour"] == grid
    assert sum(map(sum, grid)) == len(chosen)


@pytest.mark.parametrize("scope", SCOPES[:3], ids=["all", "wechat", "legal_aid"])
def test_waiting_satisfaction_and_workload_from_the_raw_rows(store: Store, scope: Scope) -> None:
    raw = Raw(store)
    ids = {c.id for c in raw.selected(scope)}
    tickets = [t for t in raw.tickets if t.conversation_id in ids]
    with store.session() as session:
        got = metrics.overview(session, scope, sla_minutes=SLA, now=NOW)
    w = got["waiting"]
    claim = [minutes(t.created_at, t.claimed_at) for t in tickets if t.claimed_at]
    reply = [minutes(t.created_at, t.first_reply_at) for t in tickets if t.first_reply_at]
    assert (w["tickets"], w["claimed"]) == (len(tickets), len(claim))
    assert (w["wait_p50_minutes"], w["wait_p90_minutes"]) == (nearest_rank(claim, 50), nearest_rank(claim, 90))
    assert (w["first_reply_p50_minutes"], w["first_reply_p90_minutes"]) == (nearest_rank(reply, 50), nearest_rank(reply, 90))

    def late(t: HandoffTicket) -> bool:
        end = t.claimed_at or (t.resolved_at if t.status != "waiting" else None) or NOW
        return minutes(t.created_at, end) > SLA
    assert w["sla_breaches"] == sum(map(late, tickets)) > 0
    by_lawyer = [t for t in tickets if t.status == "resolved" and t.lawyer_id is not None]
    assert (w["resolved_by_lawyer"], w["needless"]) == (len(by_lawyer), sum(t.needless for t in by_lawyer))

    stars = [(f.conversation_id, f.rating) for f in raw.feedback if f.kind == "rating" and f.conversation_id in ids]
    s = got["satisfaction"]
    assert s["ratings"] == len(stars) > 0
    assert s["distribution"] == {str(n): sum(r == n for _, r in stars) for n in range(1, 6)}
    assert s["csat_avg"] == round(sum(r for _, r in stars) / len(stars), 2)
    resolver = {t.conversation_id: t.lawyer_id for t in sorted(by_lawyer, key=lambda t: t.id or 0)}
    per: dict[str, list[int]] = defaultdict(list)
    for cid, r in stars:
        per[raw.names[resolver[cid]]].append(r)  # a rating follows a lawyer's resolution here
    assert {row["lawyer"]: (row["ratings"], row["csat_avg"]) for row in s["per_lawyer"]} == \
        {name: (len(rs), round(sum(rs) / len(rs), 2)) for name, rs in per.items()}

    claimed_by = Counter(raw.names[t.lawyer_id] for t in tickets if t.lawyer_id is not None)
    resolved_by = Counter(raw.names[t.lawyer_id] for t in by_lawyer)
    assert {r["lawyer"]: (r["claimed"], r["resolved"]) for r in got["workload"]} == \
        {name: (n, resolved_by.get(name, 0)) for name, n in claimed_by.items()}
    assert sum(r["claimed"] for r in got["workload"]) == sum(t.lawyer_id is not None for t in tickets)

    latest: dict[int, int] = {}  # a conversation's latest rating
    for f in sorted(raw.feedback, key=lambda f: f.id or 0):
        if f.kind == "rating" and f.rating is not None:
            latest[f.conversation_id] = f.rating
    handling: dict[str, list[float]] = defaultdict(list)
    rated: dict[str, list[int]] = defaultdict(list)
    for t in by_lawyer:
        name = raw.names[t.lawyer_id]
        if t.claimed_at and t.resolved_at:
            handling[name].append(minutes(t.claimed_at, t.resolved_at))
        if t.conversation_id in latest:
            rated[name].append(latest[t.conversation_id])
    assert {r["lawyer"]: (r["handling_p50_minutes"], r["csat_avg"]) for r in got["workload"]} == \
        {name: (nearest_rank(handling[name], 50), round(sum(rated[name]) / len(rated[name]), 2) if rated[name] else None)
         for name in claimed_by}
    assert any(r["handling_p50_minutes"] is not None for r in got["workload"])


def test_the_funnel_adds_up_and_is_timed_against_each_forms_limit(store: Store) -> None:
    class Form:
        def __init__(self, title: str, days: int, until: str) -> None:
            self.title, self.sla_days, self.sla_until = title, days, until

    forms = {"legal_aid": Form("法律援助申请", 7, "decided"), "mediation": Form("人民调解申请", 3, "accepted"),
             "notarization": Form("公证预约", 3, "accepted")}
    scope = SCOPES[0]
    raw = Raw(store)
    with store.session() as session:
        got = metrics.funnel(session, scope, forms, now=NOW)
    chosen = [a for a in raw.applications
              if a.submitted_at and scope.since <= a.submitted_at.astimezone(TZ).date() <= scope.until]
    taken: dict[int, dt.datetime] = {}
    for e in sorted(raw.events, key=lambda e: e.created_at):
        if e.kind in ("accept", "schedule"):
            taken.setdefault(e.application_id, e.created_at)
    total = got["total"]
    assert total["submitted"] == len(chosen) > 0
    assert total["completed"] == sum(a.status == "completed" for a in chosen)
    assert total["taken_up"] == sum(a.id in taken or a.status == "completed" for a in chosen)
    assert total["completed"] + total["refused"] + total["withdrawn"] + total["open"] == total["submitted"]
    assert total["completed"] <= total["taken_up"] <= total["submitted"]
    on_time = late = 0
    for a in chosen:
        form = forms[a.form]
        assert a.submitted_at is not None
        if form.sla_until == "accepted":
            done = taken.get(a.id or 0) or (a.closed_at if a.status == "completed" else None)
        else:
            done = a.closed_at if a.status in ("completed", "refused") else None
        if done is not None:
            if minutes(a.submitted_at, done) <= form.sla_days * 1440:
                on_time += 1
            else:
                late += 1
    assert (total["on_time"], total["late"]) == (on_time, late)
    assert sum(f["submitted"] for f in got["forms"]) == total["submitted"]
    rated = [a for a in chosen if a.rating is not None]
    assert sum(o["ratings"] for o in got["office_csat"]) == len(rated)


@pytest.mark.parametrize("by", metrics.BREAKDOWNS)
def test_report_rows_break_the_total_down_without_losing_anything(store: Store, by: str) -> None:
    scope = Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    with store.session() as session:
        rows = metrics.report_rows(session, scope, by, sla_minutes=SLA, now=NOW)
        overview = metrics.overview(session, scope, sla_minutes=SLA, now=NOW)
    assert all(tuple(row) == metrics.COLUMNS for row in rows)
    *parts, total = rows
    assert total["key"] == "total"
    for column in ("conversations", "answered", "abandoned", "open", "handoffs", "auto_resolved", "tickets",
                   "sla_breaches", "needless_handoffs", "ratings"):
        assert sum(row[column] for row in parts) == total[column], column
    assert total["conversations"] == overview["summary"]["conversations"]
    assert total["auto_resolution_rate"] == overview["summary"]["auto_resolution_rate"]
    assert total["median_wait_minutes"] == overview["waiting"]["wait_p50_minutes"]
    assert total["csat_avg"] == overview["satisfaction"]["csat_avg"]
    if by == "day":
        assert [row["key"] for row in parts] == [d.isoformat() for d in scope.days()]

    # Each part's own percentile, from its own tickets.
    raw = Raw(store)
    key_of = {c.id: (c.opened_at.astimezone(TZ).date().isoformat() if by == "day" else getattr(c, by))
              for c in raw.selected(scope)}
    waits: dict[Any, list[float]] = defaultdict(list)
    for t in raw.tickets:
        if t.conversation_id in key_of and t.claimed_at:
            waits[key_of[t.conversation_id]].append(minutes(t.created_at, t.claimed_at))
    assert {row["key"]: row["median_wait_minutes"] for row in parts if row["median_wait_minutes"] is not None} == \
        {("unknown" if k is None else k): nearest_rank(v, 50) for k, v in waits.items()}


def test_a_scope_that_cannot_be_used_says_why() -> None:
    with pytest.raises(ScopeError, match="before it starts"):
        Scope(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    with pytest.raises(ScopeError, match="time zone"):
        Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 2), timezone="Mars/Olympus")
    with pytest.raises(ScopeError, match="three years"):
        Scope(dt.date(2020, 1, 1), dt.date(2026, 1, 1))


def test_percentiles_are_nearest_rank() -> None:
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([5.0], 90) == 5.0
    assert metrics.percentile([1, 2, 3, 4], 50) == 2
    assert metrics.percentile(range(1, 11), 90) == 9
    assert metrics.percentile(range(1, 11), 91) == 10


# ---- the command line -------------------------------------------------------------------------------

@pytest.fixture
def report_cli(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", str(store.engine.url.render_as_string(hide_password=False)))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_legalbot_report_writes_the_documented_columns_in_every_format(report_cli: CliRunner, store: Store,
                                                                        tmp_path: Path) -> None:
    args = ["report", "--since", "2026-11-01", "--until", "2026-11-30"]
    as_csv = report_cli.invoke(app, [*args, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == ["date", *metrics.COLUMNS[1:]]
    assert [r["date"] for r in rows] == [f"2026-11-{d:02d}" for d in range(1, 31)] + ["total"]
    scope = Scope(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    with store.session() as session:
        want = metrics.report_rows(session, scope, "day", sla_minutes=Settings().sla_escalate_minutes)
    assert int(rows[-1]["conversations"]) == want[-1]["conversations"] == len(Raw(store).selected(scope))
    assert float(rows[-1]["auto_resolution_rate"]) == want[-1]["auto_resolution_rate"]

    as_json = report_cli.invoke(app, [*args, "--format", "json", "--by", "service"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["by"] == "service" and doc["rows"][-1]["service"] == "total"
    assert sum(r["conversations"] for r in doc["rows"][:-1]) == doc["rows"][-1]["conversations"]

    out = tmp_path / "month.xlsx"
    as_xlsx = report_cli.invoke(app, [*args, "--format", "xlsx", "--by", "channel", "--out", str(out)])
    assert as_xlsx.exit_code == 0, as_xlsx.output
    sheet = load_workbook(out, read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("channel", *metrics.COLUMNS[1:]) and values[-1][0] == "total"
    assert values[-1][1] == doc["rows"][-1]["conversations"]


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-13-01", "--until", "2026-11-30"], "YYYY-MM-DD"),
    (["--since", "2026-11-30", "--until", "2026-11-01"], "before it starts"),
    (["--since", "2026-11-01", "--until", "2026-11-30", "--format", "pdf"], "csv, xlsx, json or html"),
    (["--since", "2026-11-01", "--until", "2026-11-30", "--by", "lawyer"], "--by must be one of"),
    (["--since", "2026-11-01", "--until", "2026-11-30", "--format", "xlsx"], "needs a file"),
])
def test_legalbot_report_refuses_bad_input_with_a_reason(report_cli: CliRunner, args: list[str], message: str) -> None:
    result = report_cli.invoke(app, ["report", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_every_definition_is_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "reports.md").read_text(encoding="utf-8")
    for key, (_, english) in metrics.DEFINITIONS.items():
        assert f"**{key}** — {english}" in docs, key
    assert all(column in docs for column in metrics.COLUMNS[1:])


def test_the_forwardable_report_shows_the_figures_against_the_week_before(store: Store, report_cli: CliRunner,
                                                                        tmp_path: Path) -> None:
    week = Scope(dt.date(2026, 11, 23), dt.date(2026, 11, 29))
    with store.session() as session:
        page = weekly.render(session, week, sla_minutes=SLA, now=NOW)
        this = metrics.overview(session, week, sla_minutes=SLA, now=NOW)["summary"]
        before = metrics.overview(session, weekly.previous(week), sla_minutes=SLA, now=NOW)["summary"]
    assert weekly.previous(week) == Scope(dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    row = re.search(r"<tr><td>对话数</td><td>(\d+)</td><td>(\d+)</td>", page)
    assert row and (int(row[1]), int(row[2])) == (this["conversations"], before["conversations"]) and this["conversations"]
    assert f"<tr><th>合计</th><th>{this['conversations']}</th>" in page
    assert page.count("<svg") == 2 and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # self-contained: nothing is fetched when it is opened
    out = tmp_path / "week.html"
    result = report_cli.invoke(app, ["report", "--since", "2026-11-23", "--until", "2026-11-29", "--format", "html",
                                     "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"<tr><td>对话数</td><td>{this['conversations']}</td>" in out.read_text(encoding="utf-8")
