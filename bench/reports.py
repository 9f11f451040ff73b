"""The dashboard's queries (reports/metrics.py) timed on a year of synthetic traffic in PostgreSQL, and its
figures checked against plain counts.

    python -m bench.reports
    python -m bench.reports --conversations 200000 --days 365 --runs 20 --write

A fresh database (created and dropped unless ``--url`` or ``--keep``) is migrated and filled by
bench/traffic.py, then analysed as autovacuum would. Each query the console runs is timed for the whole
year, one month, the month filtered by channel and by service + language, and one day: one warm-up, then
``--runs`` runs, each in its own read-only session as a request has. Goal: p95 <= 500 ms for every query.
The figures (conversations, each outcome, handoffs, auto-resolved, reasons, tickets, ratings) are checked
against straightforward SQL for every scope. ``--write`` puts the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text

from bench.common import write_section
from bench.traffic import OFFICES, Shape, generate
from bot.settings import Settings
from bot.store import Store
from reports import metrics
from reports.metrics import Scope
from services import applications as apps

PG_ADMIN_URL = os.environ.get("LEGALBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
GOAL_MS = 500.0
#: Mean messages per conversation for bench.traffic: max(1, floor(Exp(6))) is ~5.7 on average, so
#: 200,000 conversations have ~1.13 million messages.
MESSAGES_PER_CONVERSATION = 6
TABLES = ("citizen", "conversation", "message", "handoff_ticket", "feedback", "application", "application_event")


# ---- the database ---------------------------------------------------------------------------------------

def create_database(admin_url: str = PG_ADMIN_URL) -> str:
    """A throwaway PostgreSQL database; its SQLAlchemy URL."""
    import psycopg

    name = f"legalbot_reports_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{admin_url.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"


def drop_database(url: str, admin_url: str = PG_ADMIN_URL) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def fill(store: Store, shape: Shape) -> tuple[dict[str, int], float]:
    """Migrate, write the traffic, analyse; the rows written and the seconds it took."""
    started = time.perf_counter()
    store.upgrade()
    written = generate(store, shape)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return written, time.perf_counter() - started


def row_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


# ---- what is timed --------------------------------------------------------------------------------------

def scopes(shape: Shape) -> dict[str, Scope]:
    """The year, its last calendar month (with and without filters), and the last weekday."""
    first = shape.end - dt.timedelta(days=shape.days - 1)
    month = max(first, shape.end.replace(day=1))
    day = shape.end
    while day.weekday() >= 5 and day > first:
        day -= dt.timedelta(days=1)
    return {"year" if shape.days == 365 else f"all {shape.days} days": Scope(first, shape.end),
            "month": Scope(month, shape.end),
            "month, channel": Scope(month, shape.end, channel="wechat"),
            "month, service + language": Scope(month, shape.end, service="legal_aid", language="zh"),
            "day": Scope(day, day)}


@dataclass(frozen=True)
class Context:
    sla: int
    reopen: int
    forms: dict[str, Any]
    offices: dict[str, str]


Query = Callable[[Any, Scope, Context], Any]

#: What the console runs (handoff/stats.py): the overview's parts, the whole overview, and the exports.
QUERIES: dict[str, Query] = {
    "conversation_counts": lambda s, sc, cx: metrics.conversation_counts(s, sc, reopen_days=cx.reopen),
    #: The console's daily outcome bars (handoff/stats.py, beside the overview).
    "conversation_counts by day": lambda s, sc, cx: metrics.conversation_counts(s, sc, ("day",), cx.reopen),
    "volumes": lambda s, sc, cx: metrics.volumes(s, sc),
    "waiting": lambda s, sc, cx: metrics.waiting(s, sc, cx.sla),
    "satisfaction": lambda s, sc, cx: metrics.satisfaction(s, sc, metrics.lawyer_names(s)),
    "waiting + workload": lambda s, sc, cx: metrics.workload(
        metrics.waiting(s, sc, cx.sla, by="lawyer", whole=True), metrics.lawyer_names(s)),
    "funnel": lambda s, sc, cx: metrics.funnel(s, sc, cx.forms, cx.offices),
    "report_rows by day": lambda s, sc, cx: metrics.report_rows(s, sc, "day", sla_minutes=cx.sla,
                                                                reopen_days=cx.reopen),
    "report_rows by service": lambda s, sc, cx: metrics.report_rows(s, sc, "service", sla_minutes=cx.sla,
                                                                    reopen_days=cx.reopen),
    "overview": lambda s, sc, cx: metrics.overview(s, sc, sla_minutes=cx.sla, reopen_days=cx.reopen,
                                                   forms=cx.forms, office_names=cx.offices),
}


def time_query(store: Store, query: Query, scope: Scope, context: Context, runs: int) -> list[float]:
    """Seconds per run, after one warm-up; each run in its own read-only session, as a request."""
    timings = []
    for n in range(runs + 1):
        started = time.perf_counter()
        with store.reader() as session:
            query(session, scope, context)
        if n:
            timings.append(time.perf_counter() - started)
    return timings


def stats_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "max": float(ms.max())}


# ---- the figures against plain counts -------------------------------------------------------------------

def plain_counts(store: Store, scope: Scope, reopen_days: int) -> dict[str, Any]:
    """The scope's figures by straightforward SQL, written independently of reports/metrics.py."""
    where = ["c.opened_at >= :start", "c.opened_at < :end"]
    params: dict[str, Any] = {"start": scope.start, "end": scope.end, "days": dt.timedelta(days=reopen_days)}
    for name, value in scope.filters().items():
        where.append(f"c.{name} = :{name}")
        params[name] = value
    selected = "SELECT * FROM conversation c WHERE " + " AND ".join(where)
    with store.engine.connect() as conn:
        def one(sql: str) -> int:
            return int(conn.execute(text(sql), params).scalar_one())

        outcomes = {o or metrics.OPEN: int(n) for o, n in conn.execute(
            text(f"SELECT outcome, count(*) FROM ({selected}) c GROUP BY outcome"), params)}
        handed = "EXISTS (SELECT 1 FROM handoff_ticket t WHERE t.conversation_id = c.id)"
        came_back = ("EXISTS (SELECT 1 FROM conversation l WHERE l.citizen_id = c.citizen_id AND l.id <> c.id "
                     "AND l.opened_at > c.closed_at AND l.opened_at <= c.closed_at + :days)")
        reasons = {r: int(n) for r, n in conn.execute(text(
            f"SELECT t.reason, count(*) FROM ({selected}) c JOIN handoff_ticket t ON t.conversation_id = c.id "
            "WHERE t.id = (SELECT min(f.id) FROM handoff_ticket f WHERE f.conversation_id = c.id) GROUP BY t.reason"),
            params)}
        return {
            "conversations": one(f"SELECT count(*) FROM ({selected}) c"),
            "outcomes": {k: outcomes.get(k, 0) for k in metrics.OUTCOME_COLUMNS},
            "handoffs": one(f"SELECT count(*) FROM ({selected}) c WHERE {handed}"),
            "auto_resolved": one(f"SELECT count(*) FROM ({selected}) c WHERE c.outcome = 'answered' "
                                 f"AND NOT {handed} AND NOT {came_back}"),
            "reopened": one(f"SELECT count(*) FROM ({selected}) c WHERE c.outcome = 'answered' AND {came_back}"),
            "reasons": reasons,
            "tickets": one(f"SELECT count(*) FROM ({selected}) c JOIN handoff_ticket t ON t.conversation_id = c.id"),
            "ratings": one(f"SELECT count(*) FROM ({selected}) c JOIN feedback f ON f.conversation_id = c.id "
                           "WHERE f.kind = 'rating' AND f.rating IS NOT NULL"),
            "submitted": one("SELECT count(*) FROM application a JOIN conversation c ON c.id = a.conversation_id "
                             "WHERE a.submitted_at >= :start AND a.submitted_at < :end"
                             + "".join(f" AND c.{k} = :{k}" for k in ("channel", "language") if k in params)
                             + (" AND a.district = :district" if "district" in params else "")),
        }


def check(store: Store, scope: Scope, context: Context) -> dict[str, Any]:
    """The metrics' figures for the scope, asserted equal to the plain counts; the plain counts."""
    plain = plain_counts(store, scope, context.reopen)
    with store.reader() as session:
        figures = metrics.overview(session, scope, sla_minutes=context.sla, reopen_days=context.reopen,
                                   forms=context.forms, office_names=context.offices)
        by_day = metrics.report_rows(session, scope, "day", sla_minutes=context.sla, reopen_days=context.reopen)
        by_service = metrics.report_rows(session, scope, "service", sla_minutes=context.sla,
                                         reopen_days=context.reopen)
    s = figures["summary"]
    got = {"conversations": s["conversations"], "outcomes": {k: s[k] for k in metrics.OUTCOME_COLUMNS},
           "handoffs": s["handoffs"], "auto_resolved": s["auto_resolved"], "reopened": s["reopened"],
           "reasons": figures["reasons"], "tickets": figures["waiting"]["tickets"],
           "ratings": figures["satisfaction"]["ratings"], "submitted": figures["funnel"]["total"]["submitted"]}
    problems = [f"{k}: metrics {got[k]} != plain {plain[k]}" for k in plain if got[k] != plain[k]]
    for by, rows in (("day", by_day), ("service", by_service)):
        total = rows[-1]
        for column in ("conversations", "handoffs", "auto_resolved", "tickets", "ratings",
                       *metrics.OUTCOME_COLUMNS):
            if total[column] != (s if column in s else got)[column]:
                problems.append(f"report_rows by {by}: total {column} {total[column]} != overview's")
            if sum(r[column] for r in rows[:-1]) != total[column]:
                problems.append(f"report_rows by {by}: the rows' {column} do not add up to the total")
    if problems:
        raise AssertionError(f"{scope}: " + "; ".join(problems))
    return plain


# ---- the benchmark --------------------------------------------------------------------------------------

def table(results: dict[str, dict[str, dict[str, float]]], names: list[str]) -> str:
    lines = ["| query | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for query, per_scope in results.items():
        cells = []
        for name in names:
            r = per_scope[name]
            mark = "" if r["p95"] <= GOAL_MS else " ✗"
            cells.append(f"{r['p50']:.1f} / {r['p95']:.1f} / {r['max']:.1f}{mark}")
        lines.append(f"| `{query}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL database to fill (else a temporary one on 127.0.0.1)")
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query and scope, after one warm-up")
    parser.add_argument("--reuse", action="store_true", help="--url is already filled (with the same shape)")
    parser.add_argument("--keep", action="store_true", help="do not drop the temporary database")
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()

    shape = Shape(conversations=args.conversations, days=args.days,
                  messages_per_conversation=MESSAGES_PER_CONVERSATION)
    url = args.url or create_database()
    store = Store(url)
    settings = Settings()
    context = Context(settings.sla_escalate_minutes, settings.reopen_window_days, apps.forms(),
                      {slug: office for slug, office in OFFICES.items()})
    try:
        seconds = 0.0
        if not args.reuse:
            written, seconds = fill(store, shape)
            sys.stderr.write(f"written {written} in {seconds:.0f} s\n")
        counts = row_counts(store)
        sys.stderr.write(f"rows {counts}\n")
        if counts["conversation"] < args.conversations or (
                args.conversations >= 200_000 and counts["message"] < 1_000_000):
            raise SystemExit(f"too few rows: {counts}")
        chosen = scopes(shape)
        checked = {}
        for name, scope in chosen.items():
            checked[name] = check(store, scope, context)
            sys.stderr.write(f"checked {name}: {checked[name]['conversations']} conversations, figures equal\n")
        results: dict[str, dict[str, dict[str, float]]] = {}
        for query, run in QUERIES.items():
            results[query] = {}
            for name, scope in chosen.items():
                results[query][name] = r = stats_ms(time_query(store, run, scope, context, args.runs))
                sys.stderr.write(f"{query:24} {name:26} p50 {r['p50']:8.1f}  p95 {r['p95']:8.1f}  "
                                 f"max {r['max']:8.1f} ms{'' if r['p95'] <= GOAL_MS else '  MISSES THE GOAL'}\n")
    finally:
        store.dispose()
        if args.url is None and not args.keep:
            drop_database(url)
        elif args.url is None:
            sys.stderr.write(f"kept {url}\n")

    names = list(chosen)
    missed = [(q, n) for q, per in results.items() for n, r in per.items() if r["p95"] > GOAL_MS]
    result = table(results, names)
    sys.stdout.write(result + "\n")
    if args.write:
        command = (f"python -m bench.reports --conversations {args.conversations} --days {args.days} "
                   f"--runs {args.runs}")
        rows = ", ".join(f"{n:,} {t}" for t, n in counts.items())
        scope_text = "; ".join(f"{name}: {sc.since}..{sc.until}"
                               + (f" ({', '.join(f'{k}={v}' for k, v in sc.filters().items())})" if sc.filters() else "")
                               + f", {checked[name]['conversations']:,} conversations"
                               for name, sc in chosen.items())
        body = (f"PostgreSQL, a fresh database filled by bench/traffic.py ({args.days} days, "
                f"messages_per_conversation={MESSAGES_PER_CONVERSATION}, seed {shape.seed}; "
                + (f"{seconds:.0f} s to migrate, write and analyse" if seconds else "filled earlier")
                + f"): {rows}."
                + f"\n\nScopes (Asia/Shanghai days): {scope_text}.\n\n"
                f"Each cell: p50 / p95 / max ms of {args.runs} runs after one warm-up, each run in its own "
                f"read-only session. Goal: p95 ≤ {GOAL_MS:.0f} ms for every query"
                + (f" — **missed** by {len(missed)}" if missed else " — met everywhere")
                + ". Before timing, every scope's conversations, outcomes, handoffs, auto-resolved, reopened, "
                "handoff reasons, tickets, ratings and submitted applications were checked equal to "
                "straightforward SQL, and the rows of `report_rows` by day and by service to add up to its total."
                "\n\n" + result)
        write_section("reports", command, body)
    if missed:
        raise SystemExit(f"p95 above {GOAL_MS:.0f} ms: {missed}")


if __name__ == "__main__":
    main()
