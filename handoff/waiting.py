"""Honest waiting: what a citizen handed to a lawyer is told about the wait.

The estimate is a range from measured claim times: the recent waits from entering the queue to a lawyer
claiming, of tickets that arrived at the same hour of the day when there are enough of them, scaled by the
citizen's place in the queue. It never contradicts the service hours: outside them the citizen is told when
lawyers return, and a wait that would run past closing time says so instead of promising minutes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.settings import Settings
from bot.store import HandoffTicket
from handoff.queue import in_service_hours

#: Waits looked at: the newest claimed tickets of the last so many days.
LOOKBACK_DAYS = 30
SAMPLE = 500
#: Enough waits at the same hour of the day to use them alone.
SAME_HOUR_MIN = 8
#: Minutes per place in the queue before there is any history.
DEFAULT_RANGE = (5.0, 15.0)

_WEEKDAYS = {"zh": "一二三四五六日", "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}


@dataclass(frozen=True)
class Wait:
    """``low``–``high`` minutes while lawyers are on duty and the wait ends before closing; else ``back_at``,
    when lawyers are next on duty (None when no working hours are configured)."""

    on_duty: bool
    low: int | None = None
    high: int | None = None
    back_at: dt.datetime | None = None


def _hours(settings: Settings) -> tuple[dt.time, dt.time, set[int]] | None:
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in settings.service_hours.split("-"))
        days = {int(d) for d in settings.service_days.split(",") if d.strip()}
    except ValueError:
        return None
    return start, end, days


def local_now(settings: Settings) -> dt.datetime:
    return dt.datetime.now(ZoneInfo(settings.timezone))


def next_opening(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """When lawyers are next on duty after ``now`` (local), or None if they never are."""
    hours = _hours(settings)
    if hours is None or hours[0] >= hours[1]:
        return None
    start, _, days = hours
    for n in range(8):
        day = now.date() + dt.timedelta(days=n)
        opening = dt.datetime.combine(day, start, now.tzinfo)
        if day.isoweekday() in days and opening > now:
            return opening
    return None


def closing(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    hours = _hours(settings)
    return None if hours is None else dt.datetime.combine(now.date(), hours[1], now.tzinfo)


def _quartiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]
    return rank(0.25), rank(0.75)


def per_place(session: Session, now: dt.datetime) -> tuple[float, float]:
    """Minutes a place in the queue takes, low and high (the quartiles of measured claim times), from tickets
    that arrived at the same local hour when there are enough, else from all recent ones."""
    since = now.astimezone(dt.UTC) - dt.timedelta(days=LOOKBACK_DAYS)
    rows = session.exec(
        select(HandoffTicket.created_at, HandoffTicket.claimed_at)
        .where(col(HandoffTicket.claimed_at).is_not(None), col(HandoffTicket.created_at) >= since)
        .order_by(col(HandoffTicket.id).desc()).limit(SAMPLE)).all()
    tz = now.tzinfo or dt.UTC
    waits = [((claimed - created).total_seconds() / 60, created.astimezone(tz).hour)
             for created, claimed in rows if claimed is not None]
    near = [w for w, hour in waits if min(abs(hour - now.hour), 24 - abs(hour - now.hour)) <= 1]
    chosen = near if len(near) >= SAME_HOUR_MIN else [w for w, _ in waits]
    if len(chosen) < 3:
        return DEFAULT_RANGE
    low, high = _quartiles(chosen)
    return max(low, 1.0), max(high, low, 1.0)


def estimate(session: Session, settings: Settings, ahead: int, now: dt.datetime | None = None) -> Wait:
    """The wait of a citizen with ``ahead`` tickets before theirs."""
    now = now or local_now(settings)
    if not in_service_hours(settings, now):
        return Wait(on_duty=False, back_at=next_opening(settings, now))
    low_each, high_each = per_place(session, now)
    low, high = max(1, math.floor((ahead + 1) * low_each)), max(1, math.ceil((ahead + 1) * high_each))
    close = closing(settings, now)
    if close is not None and now + dt.timedelta(minutes=high) > close:
        return Wait(on_duty=True, back_at=next_opening(settings, close))
    return Wait(on_duty=True, low=low, high=max(high, low))


def when(moment: dt.datetime | None, now: dt.datetime, lang: str) -> str:
    """"明天 09:00", "周一 09:00", "Monday 09:00": when lawyers are back, as a citizen reads it."""
    if moment is None:
        return "上班后" if lang == "zh" else "when they are back"
    days = (moment.date() - now.date()).days
    clock = moment.strftime("%H:%M")
    if lang == "zh":
        day = {0: "今天", 1: "明天", 2: "后天"}.get(days, "周" + _WEEKDAYS["zh"][moment.weekday()])
        return f"{day} {clock}"
    day = {0: "today", 1: "tomorrow"}.get(days, _WEEKDAYS["en"][moment.weekday()])
    return f"{day} at {clock}"
