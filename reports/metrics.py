"""The bureau's figures: what citizens asked, what the bot solved, how long they waited for a lawyer or an
office, and how satisfied they were.

Every figure has one definition (``DEFINITIONS``), shown next to its chart and in docs/reports.md, and the
parts of every breakdown add up to its whole: the outcomes and "still open" to the conversations, the
handoff reasons to the conversations handed off, the funnel's endings to the applications submitted.

The unit is the conversation, counted on the local day it was opened (``Scope``): the range and every
filter select conversations, and tickets, ratings and workload follow their conversation. Applications
are counted on the day they were submitted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    text,
    true,
)
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from bot.store import Application, ApplicationEvent, Conversation, Feedback, HandoffTicket, Lawyer
from bot.taxonomy import Outcome

_T = TypeVar("_T")

#: The tables' columns, for the reports' SQL.
C_table = Conversation.__table__  # type: ignore[attr-defined]
C, T, F = C_table.c, HandoffTicket.__table__.c, Feedback.__table__.c  # type: ignore[attr-defined]
A, E, L = Application.__table__.c, ApplicationEvent.__table__.c, Lawyer.__table__.c  # type: ignore[attr-defined]

OPEN = "open"
#: The closed set of outcomes, then the conversations not closed yet: the columns of the outcome mix.
OUTCOME_COLUMNS = [o.value for o in Outcome] + [OPEN]

#: Why a conversation went to a lawyer (the reason of its first ticket), in words.
REASONS = {
    "urgent": "紧急情况",
    "asked_for_human": "群众要求人工",
    "complex": "问题复杂（多个问题、已在诉讼等）",
    "unclear_after_clarifying": "追问后仍不清楚",
    "no_entry": "知识库没有对应答案",
    "none_fit": "推荐的答案都不合适",
}

#: What the report can be broken down by (``legalbot report --by``).
BREAKDOWNS = ("day", "service", "topic", "channel", "district")

#: One definition per figure: (中文, English). The console shows the first beside the chart; docs/reports.md
#: carries the second, and a test checks that it does.
DEFINITIONS: dict[str, tuple[str, str]] = {
    "conversations": (
        "所选日期内开始的对话数（按本地日期），每个对话计一次。",
        "Conversations opened on the selected local days; each conversation counts once."),
    "outcome_mix": (
        "已结束对话的结果构成：每个已结束的对话恰有一个结果；各结果之和加上“进行中”等于对话数。",
        "How the closed conversations ended: each has exactly one outcome; the outcomes plus those still "
        "open add up to the conversations."),
    "auto_resolution_rate": (
        "机器人自助解决率 = 结果为“已解答”、从未转人工、且群众在结束后 N 天内没有再次来询的对话 ÷ 已结束的对话。",
        "Auto-resolution rate = closed conversations that ended answered, were never handed off, and were "
        "not followed by another conversation of the same citizen within N days of closing, divided by the "
        "closed conversations."),
    "reopen_rate": (
        "再次来询率 = 结束后 N 天内同一群众又开始新对话的“已解答”对话 ÷ “已解答”对话。",
        "Reopen rate = answered conversations after which the same citizen opened another conversation "
        "within N days of closing, divided by the answered conversations."),
    "handoff_rate": (
        "转人工率 = 至少转过一次律师的对话 ÷ 对话数；各转人工原因（按第一次转接）之和等于转人工的对话数。",
        "Handoff rate = conversations handed to a lawyer at least once, divided by the conversations; the "
        "reasons (of the first handoff) add up to the conversations handed off."),
    "needless_handoff_rate": (
        "不必要转人工率 = 律师结案时标记“机器人本可解答”的工单 ÷ 律师结案的工单。",
        "Needless handoff rate = tickets the resolving lawyer marked \"the bot could have answered this\", "
        "divided by the tickets resolved by a lawyer."),
    "wait_to_claim": (
        "等待接单时间：工单进入队列到律师接单的分钟数（已接单的工单；中位数 p50 与 p90，最近秩法）。",
        "Wait to claim: minutes from a ticket entering the queue to a lawyer claiming it (claimed tickets; "
        "p50 and p90 by the nearest-rank method)."),
    "first_reply": (
        "首次回复时间：工单进入队列到律师第一次回复群众的分钟数（有律师回复的工单；p50 与 p90）。",
        "First reply: minutes from a ticket entering the queue to the lawyer's first message to the citizen "
        "(tickets a lawyer replied to; p50 and p90)."),
    "sla_breaches": (
        "超时未接单：进入队列后超过 LEGALBOT_SLA_ESCALATE_MINUTES 分钟仍未被接单的工单（包括至今未接、未接就结束的）。",
        "SLA breaches: tickets not claimed within LEGALBOT_SLA_ESCALATE_MINUTES of entering the queue "
        "(including those still waiting and those that ended unclaimed)."),
    "csat": (
        "满意度：群众在律师结案后给出的 1–5 星评价；平均分与分布；按结案律师统计。",
        "Satisfaction: the 1–5 star ratings citizens gave after a lawyer resolved their chat; average and "
        "distribution; per lawyer, the lawyer who resolved it."),
    "office_csat": (
        "办理机构满意度：申请办结后群众的五级评价（5 非常满意 … 1 非常不满意），按办理机构。",
        "Office satisfaction: citizens' five-level ratings of finished applications (5 very satisfied … 1 "
        "very dissatisfied), per office."),
    "funnel": (
        "办事漏斗：所选日期内提交的申请 → 已受理（受理、预约或办结）→ 已办结；各结局（办结、不予受理、撤回、"
        "办理中）之和等于提交数。按期：在表单规定的期限内完成受理或作出决定。",
        "Service funnel: applications submitted on the selected days -> taken up (accepted, scheduled or "
        "completed) -> completed; the endings (completed, refused, withdrawn, still open) add up to the "
        "submitted. On time: accepted, or decided, within the form's time limit from submission."),
    "workload": (
        "律师工作量：所选对话中由该律师接单、结案的工单数，处理时长（接单到结案）中位数，其结案对话的平均满意度（每个对话取最后一次评价）。",
        "Lawyer workload: tickets of the selected conversations the lawyer claimed and resolved, the median "
        "handling time (claim to resolution), and the average rating of the conversations they resolved (each "
        "conversation's latest rating)."),
    "volumes": (
        "来询量：每天开始的对话数；热力图为星期 × 小时（本地时间）的对话数。",
        "Volumes: conversations opened per day; the heat map counts them per weekday and hour (local time)."),
}


class ScopeError(ValueError):
    """A date range or filter that cannot be used, said so a manager understands it."""


@dataclass(frozen=True)
class Scope:
    """Which conversations count: opened on the local days ``since``..``until`` (both included), with the
    filters that are set. ``district`` is the district a citizen named (an application, a shared location)."""

    since: dt.date
    until: dt.date
    timezone: str = "Asia/Shanghai"
    channel: str | None = None
    service: str | None = None
    topic: str | None = None
    district: str | None = None
    language: str | None = None
    urgent: bool | None = None

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ScopeError(f"the range ends ({self.until}) before it starts ({self.since})")
        if (self.until - self.since).days > 3 * 366:
            raise ScopeError("the range is longer than three years")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScopeError(f"unknown time zone {self.timezone!r}") from None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def fixed_offset(self) -> dt.timedelta | None:
        """The zone's offset from UTC if it is the same on every day of the range (and its next midnight)."""
        offsets = {self.tz.utcoffset(dt.datetime.combine(d, dt.time()))
                   for d in [*self.days(), self.until + dt.timedelta(days=1)]}
        return offsets.pop() if len(offsets) == 1 else None

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), self.tz).astimezone(dt.UTC)

    def filters(self) -> dict[str, Any]:
        return {k: v for k in ("channel", "service", "topic", "district", "language", "urgent")
                if (v := getattr(self, k)) is not None}

    def conditions(self, table: Any = None) -> list[ColumnElement[bool]]:
        """The WHERE of the selected conversations, on ``table`` (an alias of conversation) or conversation."""
        c = C if table is None else table.c
        where = [c.opened_at >= self.start, c.opened_at < self.end]
        for name, value in self.filters().items():
            where.append(c[name] == value)
        return where

    def days(self) -> list[dt.date]:
        return [self.since + dt.timedelta(days=n) for n in range((self.until - self.since).days + 1)]


def percentile(values: Iterable[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _minutes(start: dt.datetime, end: dt.datetime) -> float:
    return (_aware(end) - _aware(start)).total_seconds() / 60


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ---- local time in SQL ------------------------------------------------------------------------------

def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _run(session: Session, statement: Any) -> Any:
    """Execute a report's query. On PostgreSQL without JIT compilation and with room to group in memory, for
    the transaction: these queries scan up to a year of rows in well under a second, compiling them (which
    PostgreSQL does for any query it estimates as large) took longer than running them (0.4-1.9 s on a year),
    and grouping 200,000 conversations by day spilled a sort to disk under the default 4 MB of work_mem."""
    connection = session.connection()  # Core rows: the ORM's bookkeeping per row cost a third of a year's tickets
    if _dialect(session) == "postgresql":
        connection.execute(text("SET LOCAL jit = off"))
        connection.execute(text("SET LOCAL work_mem = '64MB'"))
    else:  # what SQLite lacks, in Python (the data sets SQLite serves are small)
        dbapi = connection.connection.dbapi_connection
        dbapi.create_function("legalbot_minutes", 2, _sqlite_minutes, deterministic=True)  # type: ignore[union-attr]
        dbapi.create_aggregate("legalbot_nearest_rank", 2, _SQLiteNearestRank)  # type: ignore[union-attr,arg-type]
    return connection.execute(statement)


def local(session: Session, scope: Scope, column: Any, part: str) -> ColumnElement[Any]:
    """The local day, ISO weekday (1 = Monday) or hour of a stored UTC moment, or its local hour as a moment
    (``hour_of_range``); :func:`day_key` and :func:`hour_key` read a day and an hour of the range from what
    either database gives.

    On PostgreSQL, when the zone keeps one offset from UTC over the whole range (Asia/Shanghai always does), a
    day or an hour is a number: the seconds since 1970 plus the offset, divided. Converting every moment with
    the zone's rules instead took half of a year's scan. Otherwise PostgreSQL converts with the zone itself.
    SQLite, which has no time zones, adds the zone's offset at the start of the range (exact for zones without
    daylight saving time)."""
    if _dialect(session) == "postgresql":
        offset = scope.fixed_offset()
        if offset is not None and part in ("day", "hour_of_range"):
            seconds = func.date_part("epoch", column, type_=Float) + literal(offset.total_seconds(), Float)
            return func.floor(seconds / literal(86400.0 if part == "day" else 3600.0, Float), type_=Float)
        moment = func.timezone(scope.timezone, column)
        if part == "hour_of_range":
            return func.date_trunc("hour", moment)
        if part == "day":
            return func.date_trunc("day", moment)
        return cast(func.extract("isodow" if part == "weekday" else "hour", moment), Integer)
    offset = scope.tz.utcoffset(dt.datetime.combine(scope.since, dt.time()))
    modifier = f"{int((offset or dt.timedelta()).total_seconds() // 60):+d} minutes"
    if part == "hour_of_range":
        return func.strftime("%Y-%m-%d %H", column, modifier)
    if part == "day":
        return func.strftime("%Y-%m-%d", column, modifier)
    if part == "weekday":  # %w is 0 for Sunday
        weekday = cast(func.strftime("%w", column, modifier), Integer)
        return case((weekday == 0, 7), else_=weekday)
    return cast(func.strftime("%H", column, modifier), Integer)


_EPOCH = dt.datetime(1970, 1, 1)


def day_key(value: Any) -> str:
    """A local day as the figures key it ("YYYY-MM-DD")."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, int | float):
        return (_EPOCH + dt.timedelta(days=value)).date().isoformat()
    return str(value)


def hour_key(value: Any) -> dt.datetime:
    """A local hour of the range as a naive moment."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return _EPOCH + dt.timedelta(hours=value)
    return dt.datetime.strptime(value, "%Y-%m-%d %H")


def _within_days(session: Session, later: Any, earlier: Any, days: int) -> ColumnElement[bool]:
    """later <= earlier + days."""
    if _dialect(session) == "postgresql":
        return later <= earlier + dt.timedelta(days=days)
    return func.julianday(later) <= func.julianday(earlier) + days


# ---- conversations --------------------------------------------------------------------------------

@dataclass
class Counts:
    """The conversation figures of one group (the whole range, a day, a service …)."""

    conversations: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOME_COLUMNS, 0))
    handed_off: int = 0
    auto_resolved: int = 0
    reopened: int = 0
    #: The conversations handed off, by the reason of their first handoff.
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def closed(self) -> int:
        return self.conversations - self.outcomes[OPEN]

    def as_dict(self) -> dict[str, Any]:
        answered = self.outcomes[Outcome.answered.value]
        return {"conversations": self.conversations, **self.outcomes, "closed": self.closed,
                "handoffs": self.handed_off, "auto_resolved": self.auto_resolved, "reopened": self.reopened,
                "auto_resolution_rate": _rate(self.auto_resolved, self.closed),
                "handoff_rate": _rate(self.handed_off, self.conversations),
                "reopen_rate": _rate(self.reopened, answered)}


def summed(groups: Iterable[Counts]) -> Counts:
    """The counts of groups that split one set of conversations (a breakdown's parts): their whole."""
    total = Counts()
    for counts in groups:
        total.conversations += counts.conversations
        for outcome, n in counts.outcomes.items():
            total.outcomes[outcome] += n
        total.handed_off += counts.handed_off
        total.auto_resolved += counts.auto_resolved
        total.reopened += counts.reopened
        for reason, n in counts.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + n
    return total


def _dimension(session: Session, scope: Scope, name: str) -> ColumnElement[Any]:
    if name == "day":
        return local(session, scope, C.opened_at, "day")
    if name in ("weekday", "hour"):
        return local(session, scope, C.opened_at, name)
    if name in ("service", "topic", "channel", "district", "language"):
        return C[name]
    raise ScopeError(f"cannot break down by {name!r}: use one of {', '.join(BREAKDOWNS)}")


def conversation_counts(session: Session, scope: Scope, by: tuple[str, ...] = (),
                        reopen_days: int = 7) -> dict[tuple[Any, ...], Counts]:
    """Counts per group of ``by`` (the whole range under ``()``), from one grouped scan of the conversations:
    whether one was handed off and why, and when its citizen came back, are its own columns."""
    answered = C.outcome == Outcome.answered.value
    reopened = and_(answered, C.returned_at > C.closed_at,
                    _within_days(session, C.returned_at, C.closed_at, reopen_days))
    keys = [_dimension(session, scope, name).label(f"k_{name}") for name in by]
    inner = (sa_select(*keys, C.outcome.label("outcome"), C.handoff_reason.label("reason"),
                       case((reopened, True), else_=false()).label("reopened"))
             .where(*scope.conditions()).subquery())
    rows = _run(session, sa_select(*inner.c, func.count().label("n")).group_by(*inner.c)).all()
    groups: dict[tuple[Any, ...], Counts] = defaultdict(Counts)
    for row in rows:
        key = tuple(day_key(k) if name == "day" else k for name, k in zip(by, row, strict=False))
        outcome, reason, came, n = row[len(by):]
        counts = groups[key]
        counts.conversations += n
        counts.outcomes[outcome or OPEN] += n
        if reason is not None:
            counts.handed_off += n
            counts.reasons[reason] = counts.reasons.get(reason, 0) + n
        if outcome == Outcome.answered.value and came:
            counts.reopened += n
        if outcome == Outcome.answered.value and reason is None and not came:
            counts.auto_resolved += n
    return dict(groups)


def volumes(session: Session, scope: Scope) -> dict[str, Any]:
    """Conversations per local day (every day of the range, zeros included) and per weekday × hour.

    One query counts them per local hour of the range; the days, weekdays and hours are summed from it."""
    hour = local(session, scope, C.opened_at, "hour_of_range")
    per_day: dict[str, int] = defaultdict(int)
    grid = [[0] * 24 for _ in range(7)]
    for moment, n in _run(session, sa_select(hour, func.count()).where(*scope.conditions()).group_by(hour)).all():
        at = hour_key(moment)
        per_day[at.date().isoformat()] += n
        grid[at.isoweekday() - 1][at.hour] += n
    return {"days": [{"date": d.isoformat(), "conversations": per_day.get(d.isoformat(), 0)} for d in scope.days()],
            "weekday_hour": grid}


def handoff_reasons(counts: Counts) -> dict[str, int]:
    """Conversations handed off, by the reason of their first ticket, most frequent first."""
    return dict(sorted(counts.reasons.items(), key=lambda r: (-r[1], r[0])))


# ---- tickets: waiting, lawyers, satisfaction ------------------------------------------------------
#
# A year has tens of thousands of tickets: the database counts and ranks them (nearest-rank percentiles
# included) and returns a row per group, instead of every ticket to Python.

def _minutes_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """Minutes from ``start`` to ``end`` (NULL when either is): PostgreSQL subtracts the moments; SQLite, which
    has no exact time arithmetic, calls :func:`_sqlite_minutes`."""
    if _dialect(session) == "postgresql":
        return func.date_part("epoch", end - start, type_=Float) / literal(60.0, Float)
    return func.legalbot_minutes(start, end, type_=Float)


def _nearest_rank(session: Session, value: Any, p: int) -> ColumnElement[Any]:
    """The p-th nearest-rank percentile of ``value`` over a group (NULLs left out): PostgreSQL's
    percentile_disc is exactly that; SQLite calls :class:`_SQLiteNearestRank`."""
    if _dialect(session) == "postgresql":
        return func.percentile_disc(p / 100).within_group(value)
    return func.legalbot_nearest_rank(value, p, type_=Float)


def _sqlite_minutes(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return _minutes(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))


class _SQLiteNearestRank:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.p = 50.0

    def step(self, value: float | None, p: float) -> None:
        self.p = p
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return percentile(self.values, self.p)


def _when(condition: Any, value: Any = 1) -> ColumnElement[Any]:
    """``value`` where ``condition`` holds, else NULL: what count(), sum() and the percentiles leave out."""
    return case((condition, value))


def _ticket_rows(session: Session, scope: Scope, now: dt.datetime, key: ColumnElement[Any] | None = None) -> Any:
    """The selected conversations' tickets, their times in minutes (and the conversation's ``key``)."""
    at_now = literal(now.astimezone(dt.UTC), DateTime(timezone=True))
    unclaimed_until = func.coalesce(T.claimed_at, case((T.status != "waiting", T.resolved_at)), at_now)
    by_lawyer = and_(T.resolved_at.is_not(None), T.lawyer_id.is_not(None), T.status == "resolved")
    return (sa_select(T.id, T.conversation_id, T.lawyer_id, T.status, T.needless,
                      case((by_lawyer, 1), else_=0).label("by_lawyer"),
                      _minutes_between(session, T.created_at, T.claimed_at).label("claim"),
                      _minutes_between(session, T.created_at, T.first_reply_at).label("reply"),
                      _minutes_between(session, T.claimed_at, T.resolved_at).label("handling"),
                      _minutes_between(session, T.created_at, unclaimed_until).label("unclaimed"),
                      *([key.label("key")] if key is not None else []))
            .join(Conversation, C.id == T.conversation_id).where(*scope.conditions()).subquery("tickets"))


#: The key of the whole scope's figures beside its parts' (no column's value is a tuple).
WHOLE = ("whole",)


def waiting(session: Session, scope: Scope, sla_minutes: int, now: dt.datetime | None = None,
            by: str | None = None, whole: bool = False) -> dict[Any, dict[str, Any]]:
    """Tickets, waits and SLA breaches per value of ``by`` (a breakdown, or "lawyer": then each lawyer's
    workload too), and of the whole scope under :data:`WHOLE` when ``whole`` (or when there is no ``by``).

    PostgreSQL gives the parts and the whole from one scan (ROLLUP); SQLite is asked twice."""
    t = _ticket_rows(session, scope, now or dt.datetime.now(dt.UTC),
                     None if by in (None, "lawyer") else _dimension(session, scope, by))
    key = None if by is None else t.c.lawyer_id if by == "lawyer" else t.c.key
    lawyer_resolved, resolved = t.c.by_lawyer == 1, t.c.status == "resolved"
    columns = [func.count(), func.count(t.c.claim),
               _nearest_rank(session, t.c.claim, 50), _nearest_rank(session, t.c.claim, 90),
               _nearest_rank(session, t.c.reply, 50), _nearest_rank(session, t.c.reply, 90),
               func.count(_when(t.c.unclaimed > sla_minutes)), func.count(_when(lawyer_resolved)),
               func.count(_when(and_(lawyer_resolved, t.c.needless == true())))]
    source: Any = t
    if by == "lawyer":
        stars = _latest_ratings()
        source = t.outerjoin(stars, stars.c.conversation_id == t.c.conversation_id)
        columns += [func.count(_when(resolved)), func.count(_when(t.c.status == "claimed")),
                    func.count(_when(and_(resolved, t.c.needless == true()))),
                    _nearest_rank(session, _when(resolved, t.c.handling), 50),
                    func.count(_when(resolved, stars.c.rating)), func.sum(_when(resolved, stars.c.rating))]
    if key is None:
        rows = [(WHOLE, *r) for r in _run(session, sa_select(*columns).select_from(source)).all()]
    elif _dialect(session) == "postgresql":
        rows = [(WHOLE if r[0] else r[1], *r[2:]) for r in _run(session, sa_select(
            func.grouping(key), key, *columns).select_from(source).group_by(func.rollup(key))).all()]
    else:
        rows = [tuple(r) for r in _run(session, sa_select(key, *columns).select_from(source).group_by(key)).all()]
        if whole:
            rows += [(WHOLE, *r) for r in _run(session, sa_select(*columns).select_from(source)).all()]
    out = {}
    for k, n, claimed, c50, c90, r50, r90, breaches, by_lawyer, needless, *work in rows:
        figures = {"tickets": n, "claimed": claimed,
                   "wait_p50_minutes": _round(c50), "wait_p90_minutes": _round(c90),
                   "first_reply_p50_minutes": _round(r50), "first_reply_p90_minutes": _round(r90),
                   "sla_minutes": sla_minutes, "sla_breaches": breaches, "resolved_by_lawyer": by_lawyer,
                   "needless": needless, "needless_handoff_rate": _rate(needless, by_lawyer)}
        if work:
            done, still_open, marked, handling, rated, star_sum = work
            figures.update(resolved=done, open=still_open, needless_marked=marked,
                           handling_p50_minutes=_round(handling),
                           csat_avg=round(int(star_sum) / rated, 2) if rated else None)
        out[k if k == WHOLE else day_key(k) if by == "day" else k] = figures
    return out


def _latest_ratings() -> Any:
    """Each conversation's latest star rating (conversation_id, rating)."""
    latest = (sa_select(func.max(F.id).label("id")).where(F.kind == "rating", F.rating.is_not(None))
              .group_by(F.conversation_id).subquery("latest"))
    return sa_select(F.conversation_id, F.rating).join(latest, latest.c.id == F.id).subquery("stars")


def ratings(session: Session, scope: Scope, by: str | None = None) -> dict[Any, tuple[int, int]]:
    """(how many, their sum) of the star ratings given in the selected conversations, for the whole scope
    (the key ``None``) or per value of ``by``."""
    key = [_dimension(session, scope, by).label("key")] if by else []
    given = (sa_select(*key, F.rating).join(Conversation, C.id == F.conversation_id)
             .where(F.kind == "rating", F.rating.is_not(None), *scope.conditions()).subquery("given"))
    keys = [given.c.key] if by else []
    rows = _run(session, sa_select(*keys, func.count(), func.sum(given.c.rating)).group_by(*keys)).all()
    return {(day_key(r[0]) if by == "day" else r[0]) if by else None: (int(r[-2]), int(r[-1] or 0)) for r in rows}


def satisfaction(session: Session, scope: Scope, names: dict[int, str]) -> dict[str, Any]:
    """The ratings' average and distribution, and per lawyer: the lawyer whose resolution (the latest, if
    several) the conversation's ratings follow."""
    last = (sa_select(func.max(T.id).label("id")).where(T.lawyer_id.is_not(None), T.status == "resolved")
            .group_by(T.conversation_id).subquery("last"))
    resolver = sa_select(T.conversation_id, T.lawyer_id).join(last, last.c.id == T.id).subquery("resolver")
    rows = _run(session,
        sa_select(resolver.c.lawyer_id, F.rating, func.count())
        .select_from(Feedback.__table__.join(C_table, C.id == F.conversation_id)  # type: ignore[attr-defined]
                     .outerjoin(resolver, resolver.c.conversation_id == F.conversation_id))
        .where(F.kind == "rating", F.rating.is_not(None), *scope.conditions())
        .group_by(resolver.c.lawyer_id, F.rating)).all()
    distribution = {str(n): 0 for n in range(1, 6)}
    per: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for lawyer_id, stars, n in rows:
        distribution[str(int(stars))] = distribution.get(str(int(stars)), 0) + n
        per[lawyer_id][0] += n
        per[lawyer_id][1] += int(stars) * n
    count = sum(n for n, _ in per.values())
    total = sum(s for _, s in per.values())
    return {"ratings": count, "csat_avg": round(total / count, 2) if count else None, "distribution": distribution,
            "per_lawyer": sorted(({"lawyer": names.get(lid, "—") if lid is not None else "—", "ratings": n,
                                   "csat_avg": round(s / n, 2)} for lid, (n, s) in per.items()),
                                 key=lambda r: (-r["ratings"], r["lawyer"]))}


def workload(per_lawyer: dict[Any, dict[str, Any]], names: dict[int, str]) -> list[dict[str, Any]]:
    """Per lawyer, from :func:`waiting` by "lawyer": the selected conversations' tickets claimed, resolved and
    still open, those marked needless, the median handling time, and the average of the ratings that followed
    their resolutions."""
    out = [{"lawyer": names.get(lawyer_id, "—"), "claimed": f["tickets"], "resolved": f["resolved"],
            "open": f["open"], "needless_marked": f["needless_marked"],
            "handling_p50_minutes": f["handling_p50_minutes"], "csat_avg": f["csat_avg"]}
           for lawyer_id, f in per_lawyer.items() if lawyer_id is not None and lawyer_id != WHOLE]
    return sorted(out, key=lambda r: (-r["claimed"], r["lawyer"]))


def lawyer_names(session: Session) -> dict[int, str]:
    return {int(i): n for i, n in _run(session, sa_select(L.id, L.display_name)).all()}


# ---- applications ---------------------------------------------------------------------------------

def funnel(session: Session, scope: Scope, forms: dict[str, Any], office_names: dict[str, str] | None = None,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Applications submitted on the selected days, taken up, completed, and on time against each form's
    limit; filters by channel, district and language apply (service and topic are the forms themselves)."""
    now = now or dt.datetime.now(dt.UTC)
    where = [A.submitted_at >= scope.start, A.submitted_at < scope.end]
    by_conversation = [C[name] == value for name in ("channel", "language") if (value := getattr(scope, name)) is not None]
    if scope.district is not None:
        where.append(A.district == scope.district)
    taken = (sa_select(E.application_id, func.min(E.created_at).label("at"))
             .where(E.kind.in_(("accept", "schedule"))).group_by(E.application_id)
             .subquery())
    completed, decided = A.status == "completed", A.status.in_(("completed", "refused"))
    ending = case((A.status.in_(("withdrawn", "cancelled")), "withdrawn"),
                  (A.status.in_(("completed", "refused")), A.status), else_="open")
    taken_up = or_(taken.c.at.is_not(None), completed)
    up = _minutes_between(session, A.submitted_at, func.coalesce(taken.c.at, case((completed, A.closed_at))))
    decided_after = _minutes_between(session, A.submitted_at, case((decided, A.closed_at)))
    age = _minutes_between(session, A.submitted_at, literal(now.astimezone(dt.UTC), DateTime(timezone=True)))
    # Each form's limit in minutes, and what it limits: taking the application up, or deciding it.
    limits = {slug: form.sla_days * 1440 for slug, form in forms.items() if getattr(form, "sla_days", None)}
    limit = case(limits, value=A.form) if limits else cast(null(), Float)
    by_acceptance = [slug for slug, form in forms.items() if getattr(form, "sla_until", "accepted") == "accepted"]
    done_after = case((A.form.in_(by_acceptance), up), else_=decided_after)
    statement = sa_select(
        A.form, func.count(), *[func.count(_when(ending == e)) for e in ("completed", "refused", "withdrawn", "open")],
        func.count(_when(taken_up)), _nearest_rank(session, _when(taken_up, up), 50),
        _nearest_rank(session, decided_after, 50),
        func.count(_when(and_(limit.is_not(None), done_after <= limit))),
        func.count(_when(and_(limit.is_not(None), done_after > limit))),
        func.count(_when(and_(limit.is_not(None), done_after.is_(None), ending == "open", age > limit))))
    offices = sa_select(A.office, func.count(), func.sum(A.rating), func.count(_when(A.rating <= 2))) \
        .where(A.rating.is_not(None), A.office.is_not(None), A.office != "")
    if by_conversation:  # the conversation only when a filter needs it: a year is 15,000 applications
        statement = statement.join(Conversation, C.id == A.conversation_id).where(*by_conversation)
        offices = offices.join(Conversation, C.id == A.conversation_id).where(*by_conversation)
    rows = _run(session, statement.outerjoin(taken, taken.c.application_id == A.id).where(*where)
                .group_by(A.form)).all()
    forms_out = []
    for slug, submitted, done, refused, withdrawn, still_open, up_n, up_p50, decided_p50, on_time, late, overdue in rows:
        form = forms.get(slug)
        forms_out.append({"form": slug, "title": getattr(form, "title", slug), "submitted": submitted,
                          "taken_up": up_n, "completed": done, "refused": refused, "withdrawn": withdrawn,
                          "open": still_open, "on_time": on_time, "late": late, "overdue_open": overdue,
                          "limit_days": getattr(form, "sla_days", None),
                          "taken_up_p50_days": _round(None if up_p50 is None else up_p50 / 1440),
                          "decided_p50_days": _round(None if decided_p50 is None else decided_p50 / 1440)})
    forms_out.sort(key=lambda f: -f["submitted"])
    total = {k: sum(f[k] for f in forms_out) for k in ("submitted", "taken_up", "completed", "refused", "withdrawn",
                                                        "open", "on_time", "late", "overdue_open")}
    names = office_names or {}
    stars = _run(session, offices.where(*where).group_by(A.office).order_by(A.office)).all()
    return {"total": total, "forms": forms_out,
            "office_csat": [{"office": names.get(o, o), "ratings": n, "csat_avg": round(int(total_stars) / n, 2),
                             "poor": poor} for o, n, total_stars, poor in stars]}


# ---- the whole picture ----------------------------------------------------------------------------

def alongside(session: Session, work: Callable[[Session], _T]) -> Callable[[], _T]:
    """Start ``work`` on a connection of its own while the caller goes on with its queries; the returned function
    waits for its result (and raises what it raised).

    On PostgreSQL a year's dashboard is a few scans of 200,000 conversations: two backends run two of them at
    once on the two cores. Each statement of a report already sees the database as it was when the statement
    began (read committed), so a second connection changes nothing about which rows a figure counts. SQLite
    runs the work when its result is asked for."""
    if _dialect(session) != "postgresql":
        return lambda: work(session)

    def run() -> _T:
        with Session(session.get_bind()) as other:
            return work(other)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future.result


def overview(session: Session, scope: Scope, *, sla_minutes: int, reopen_days: int = 7,
             forms: dict[str, Any] | None = None, office_names: dict[str, str] | None = None,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows for one scope; ``daily`` is each day's counts (every day of the range)."""
    now = now or dt.datetime.now(dt.UTC)
    names = lawyer_names(session)
    # Tickets, ratings and applications on a second connection, conversations on this one: on a year each
    # side takes about the same time.
    people = alongside(session, lambda other: (waiting(other, scope, sla_minutes, now, "lawyer", whole=True),
                                               satisfaction(other, scope, names),
                                               funnel(other, scope, forms or {}, office_names, now)))
    days = conversation_counts(session, scope, ("day",), reopen_days)  # one query: the days and their sum
    counts = summed(days.values())
    hours = volumes(session, scope)
    per_lawyer, stars, applications = people()
    waits = {k: v for k, v in per_lawyer.get(WHOLE, _no_tickets(sla_minutes)).items() if k in _no_tickets(0)}
    lawyers = workload(per_lawyer, names)
    return {"scope": {"since": scope.since.isoformat(), "until": scope.until.isoformat(), "timezone": scope.timezone,
                      "filters": scope.filters(), "reopen_days": reopen_days},
            "summary": counts.as_dict(),
            "daily": [{"date": d.isoformat(), **days.get((d.isoformat(),), Counts()).as_dict()} for d in scope.days()],
            "reasons": handoff_reasons(counts),
            "volumes": hours,
            "waiting": waits,
            "satisfaction": stars,
            "workload": lawyers,
            "funnel": applications}


#: The stable columns of `legalbot report` and of the console's exports, in order.
COLUMNS = ("key", "conversations", *[o.value for o in Outcome], "open", "handoffs", "auto_resolved",
           "auto_resolution_rate", "handoff_rate", "reopen_rate", "tickets", "median_wait_minutes",
           "p90_wait_minutes", "median_first_reply_minutes", "sla_breaches", "needless_handoffs", "ratings",
           "csat_avg")


def report_rows(session: Session, scope: Scope, by: str = "day", *, sla_minutes: int, reopen_days: int = 7,
                now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One row per day (every day of the range) or per value of ``by``, then a row "total"."""
    if by not in BREAKDOWNS:
        raise ScopeError(f"cannot break down by {by!r}: use one of {', '.join(BREAKDOWNS)}")
    now = now or dt.datetime.now(dt.UTC)
    people = alongside(session, lambda other: waiting(other, scope, sla_minutes, now, by, whole=True))
    groups = {key[0]: c for key, c in conversation_counts(session, scope, (by,), reopen_days).items()}
    total = summed(groups.values())  # every selected conversation is in exactly one group
    stars = ratings(session, scope, by)
    waits = people()
    all_waits = waits.pop(WHOLE, None)
    keys: list[Any] = [d.isoformat() for d in scope.days()] if by == "day" else \
        sorted(groups, key=lambda k: (k is None, -groups[k].conversations, str(k)))
    none = _no_tickets(sla_minutes)
    rows = [_row(k, groups.get(k, Counts()), waits.get(k, none), stars.get(k, (0, 0))) for k in keys]
    rows.append(_row("total", total, all_waits or none,
                     (sum(n for n, _ in stars.values()), sum(s for _, s in stars.values()))))
    return rows


def _no_tickets(sla_minutes: int) -> dict[str, Any]:
    return {"tickets": 0, "claimed": 0, "wait_p50_minutes": None, "wait_p90_minutes": None,
            "first_reply_p50_minutes": None, "first_reply_p90_minutes": None, "sla_minutes": sla_minutes,
            "sla_breaches": 0, "resolved_by_lawyer": 0, "needless": 0, "needless_handoff_rate": None}


def _row(key: Any, counts: Counts, w: dict[str, Any], stars: tuple[int, int]) -> dict[str, Any]:
    c = counts.as_dict()
    rated, star_sum = stars
    return {"key": "unknown" if key is None else key, "conversations": c["conversations"],
            **{o.value: c[o.value] for o in Outcome}, "open": c[OPEN], "handoffs": c["handoffs"],
            "auto_resolved": c["auto_resolved"], "auto_resolution_rate": c["auto_resolution_rate"],
            "handoff_rate": c["handoff_rate"], "reopen_rate": c["reopen_rate"], "tickets": w["tickets"],
            "median_wait_minutes": w["wait_p50_minutes"], "p90_wait_minutes": w["wait_p90_minutes"],
            "median_first_reply_minutes": w["first_reply_p50_minutes"], "sla_breaches": w["sla_breaches"],
            "needless_handoffs": w["needless"], "ratings": rated,
            "csat_avg": round(star_sum / rated, 2) if rated else None}
