"""Appointments at the public legal service centres (issue 14, part 4): free slots, booking, rescheduling,
cancelling, and the reminder the day before.

A centre's slots come from the city file (services/city.py): on its weekdays, at its times, each slot
holds ``capacity`` citizens as seats 1..capacity. A booking takes the lowest free seat; the unique index
``ux_booking_seat`` (bot/store.py) allows one ``booked`` row per seat, so two workers booking the last
seat at once cannot both get it: the insert runs in a savepoint, and the one that loses the race tries
the next seat, until none is left. This holds on SQLite (one writer at a time anyway) and on PostgreSQL
(the second insert waits for the first transaction, then fails on the index).

Times are the server's local time, like the rest of the project. Every function takes an open session
and leaves the commit to the caller; the texts are for citizens.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.store import Booking, lock_citizen
from services.city import City

#: How far ahead a citizen may book: today and the 13 days after it.
HORIZON_DAYS = 14
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

FULL = "这个时段已约满，请换一个时间"
DAY_PAST = "预约日期已过"
SLOT_PAST = "这个时段已经过了，请换一个时间"
NOT_BOOKABLE = "这个中心不接受预约"
UNKNOWN_CENTRE = "没有找到这个服务中心"
BEYOND_HORIZON = f"只能预约未来{HORIZON_DAYS}天内的时段"
DAY_CLOSED = "这一天不开放预约，请换一天"
NOT_A_SLOT = "这个时间没有预约时段，可选：{times}"
ALREADY_BOOKED = "您已经预约了这个时段"
NOT_FOUND = "没有找到您的这个预约"
ALREADY_OVER = "这个预约的时间已经过了"


class BookingError(ValueError):
    """A booking that cannot be made or changed; the message is for the citizen."""


class BookingStatus(StrEnum):
    booked = "booked"
    cancelled = "cancelled"
    attended = "attended"
    missed = "missed"


def _local_now(now: dt.datetime | None) -> dt.datetime:
    """Naive local time; an aware ``now`` is converted to the server's zone."""
    if now is None:
        return dt.datetime.now()
    return now.astimezone().replace(tzinfo=None) if now.tzinfo else now


def _starts_at(day: dt.date | str, time: str) -> dt.datetime:
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime.combine(day, dt.time.fromisoformat(time))


def capacity(city: City, centre_id: str) -> int:
    """Citizens per slot; 0 for a centre that is unknown or takes no bookings."""
    centre = city.centre(centre_id)
    if centre is None or not centre.bookable or centre.slots is None:
        return 0
    return int(centre.slots.capacity)


def _booked_counts(session: Session, centre_id: str, first: dt.date,
                   last: dt.date) -> Counter[tuple[str, str]]:
    """Booked seats per (day, time) at a centre between two days, both included."""
    rows = session.exec(
        select(Booking.day, Booking.time, func.count()).where(
            Booking.centre == centre_id, Booking.status == BookingStatus.booked,
            Booking.day >= first.isoformat(), Booking.day <= last.isoformat(),
        ).group_by(col(Booking.day), col(Booking.time))
    ).all()
    return Counter({(day, time): int(count) for day, time, count in rows})


def _free_on(city: City, centre_id: str, day: dt.date, counts: Counter[tuple[str, str]],
             now: dt.datetime) -> list[tuple[str, int]]:
    seats = capacity(city, centre_id)
    free = []
    for time in city.slot_times(centre_id, day):
        left = seats - counts[(day.isoformat(), time)]
        if left > 0 and _starts_at(day, time) > now:
            free.append((time, left))
    return free


def free_slots(session: Session, city: City, centre_id: str, day: dt.date,
               now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """(time, seats left) of the slots on ``day`` that are still ahead and not full."""
    return _free_on(city, centre_id, day, _booked_counts(session, centre_id, day, day), _local_now(now))


def open_days(session: Session, city: City, centre_id: str, start: dt.date, horizon_days: int = HORIZON_DAYS,
              now: dt.datetime | None = None) -> list[dt.date]:
    """The days from ``start`` (``horizon_days`` of them) with at least one free seat that :func:`book`
    would accept, so never a day past the booking horizon."""
    now = _local_now(now)
    first = max(start, now.date())
    last = min(start + dt.timedelta(days=horizon_days - 1), now.date() + dt.timedelta(days=HORIZON_DAYS - 1))
    if last < first:
        return []
    counts = _booked_counts(session, centre_id, first, last)
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [day for day in days if _free_on(city, centre_id, day, counts, now)]


def _check_slot(city: City, centre_id: str, day: dt.date, time: str, now: dt.datetime) -> int:
    """The slot's capacity, or why it cannot be booked."""
    centre = city.centre(centre_id)
    if centre is None:
        raise BookingError(UNKNOWN_CENTRE)
    if not centre.bookable:
        raise BookingError(NOT_BOOKABLE)
    if day < now.date():
        raise BookingError(DAY_PAST)
    if (day - now.date()).days >= HORIZON_DAYS:
        raise BookingError(BEYOND_HORIZON)
    times = city.slot_times(centre_id, day)
    if not times:
        raise BookingError(DAY_CLOSED)
    if time not in times:
        raise BookingError(NOT_A_SLOT.format(times="、".join(times)))
    if _starts_at(day, time) <= now:
        raise BookingError(SLOT_PAST)
    return capacity(city, centre_id)


def _in_slot(centre_id: str, day: dt.date, time: str) -> tuple[Any, ...]:
    """The conditions for the booked rows of one slot."""
    return (Booking.centre == centre_id, Booking.day == day.isoformat(), Booking.time == time,
            Booking.status == BookingStatus.booked)


def _taken_seats(session: Session, centre_id: str, day: dt.date, time: str) -> set[int]:
    return set(session.exec(select(Booking.seat).where(*_in_slot(centre_id, day, time))).all())


def _seat_taken(session: Session, centre_id: str, day: dt.date, time: str, seat: int) -> bool:
    seat_row = select(Booking.id).where(*_in_slot(centre_id, day, time), Booking.seat == seat)
    return session.exec(seat_row).first() is not None


def book(session: Session, city: City, centre_id: str, day: dt.date, time: str, citizen_id: int,
         application_id: int | None = None, now: dt.datetime | None = None) -> Booking:
    """Book the lowest free seat of a slot, or raise :class:`BookingError` saying why not."""
    seats = _check_slot(city, centre_id, day, time, _local_now(now))
    # One citizen's requests one at a time (PostgreSQL; SQLite has one writer anyway), so the check below
    # holds across workers too.
    lock_citizen(session, citizen_id)
    mine = session.exec(
        select(Booking.id).where(*_in_slot(centre_id, day, time), Booking.citizen_id == citizen_id)
    ).first()
    if mine is not None:
        raise BookingError(ALREADY_BOOKED)
    taken = _taken_seats(session, centre_id, day, time)
    for seat in range(1, seats + 1):
        if seat in taken:
            continue
        booking = Booking(centre=centre_id, day=day.isoformat(), time=time, seat=seat, citizen_id=citizen_id,
                          application_id=application_id, status=BookingStatus.booked)
        try:
            with session.begin_nested():
                session.add(booking)
                session.flush()
        except IntegrityError:
            # Another worker took the seat since we looked: try the next one. Any other failure (a
            # citizen or application that does not exist) is not the citizen's to fix.
            if not _seat_taken(session, centre_id, day, time, seat):
                raise
            continue
        return booking
    raise BookingError(FULL)


def _own_booking(session: Session, booking_id: int, citizen_id: int, now: dt.datetime) -> Booking:
    booking = session.exec(
        select(Booking).where(Booking.id == booking_id).with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if booking is None or booking.citizen_id != citizen_id or booking.status != BookingStatus.booked:
        raise BookingError(NOT_FOUND)
    if _starts_at(booking.day, booking.time) <= now:
        raise BookingError(ALREADY_OVER)
    return booking


def cancel(session: Session, booking_id: int, citizen_id: int, now: dt.datetime | None = None) -> Booking:
    """Cancel one of the citizen's own upcoming bookings; its seat is free again at once."""
    lock_citizen(session, citizen_id)
    booking = _own_booking(session, booking_id, citizen_id, _local_now(now))
    booking.status = BookingStatus.cancelled
    session.add(booking)
    session.flush()
    return booking


def reschedule(session: Session, city: City, booking_id: int, citizen_id: int, day: dt.date, time: str,
               now: dt.datetime | None = None) -> Booking:
    """Move a booking: the new one is booked first, then the old one cancelled, in the caller's transaction.
    When the new slot cannot be had, the old booking stays as it was."""
    now = _local_now(now)
    lock_citizen(session, citizen_id)
    old = _own_booking(session, booking_id, citizen_id, now)
    new = book(session, city, old.centre, day, time, citizen_id, application_id=old.application_id, now=now)
    old.status = BookingStatus.cancelled
    session.add(old)
    session.flush()
    return new


def upcoming(session: Session, citizen_id: int, now: dt.datetime | None = None) -> list[Booking]:
    """The citizen's booked appointments that have not started yet, soonest first."""
    now = _local_now(now)
    bookings = session.exec(
        select(Booking).where(Booking.citizen_id == citizen_id, Booking.status == BookingStatus.booked,
                              Booking.day >= now.date().isoformat())
        .order_by(col(Booking.day), col(Booking.time))
    ).all()
    return [b for b in bookings if _starts_at(b.day, b.time) > now]


def due_reminders(session: Session, now: dt.datetime | None = None) -> list[Booking]:
    """Tomorrow's booked appointments whose citizen has not been reminded yet.

    On PostgreSQL the rows stay locked (``SKIP LOCKED``) until the caller's transaction ends, so two
    workers' housekeeping never remind the same citizen twice: mark each with :func:`mark_reminded`
    and commit in the same transaction."""
    tomorrow = _local_now(now).date() + dt.timedelta(days=1)
    return list(session.exec(
        select(Booking).where(Booking.status == BookingStatus.booked, Booking.day == tomorrow.isoformat(),
                              col(Booking.reminded_at).is_(None))
        .order_by(col(Booking.time), col(Booking.id)).with_for_update(skip_locked=True)
    ).all())


def mark_reminded(session: Session, booking: Booking, now: dt.datetime | None = None) -> None:
    # Stored aware (UTC), like every other timestamp of the store; a naive ``now`` is local time.
    booking.reminded_at = _local_now(now).astimezone(dt.UTC)
    session.add(booking)
    session.flush()


def _month_day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def _place(city: City, booking: Booking) -> tuple[str, str, str]:
    """The centre's name, address and phone ('' when the city file no longer lists it)."""
    centre = city.centre(booking.centre)
    if centre is None:
        return "公共法律服务中心", "", ""
    return centre.name, centre.address or "", centre.phone or ""


def describe(city: City, booking: Booking) -> str:
    """One line for the citizen: "12月5日 周六 09:00 · 示例市公共法律服务中心 · 地址"."""
    day = dt.date.fromisoformat(booking.day)
    name, address, _ = _place(city, booking)
    parts = [f"{_month_day(day)} {WEEKDAYS[day.weekday()]} {booking.time}", name]
    if address:
        parts.append(address)
    return " · ".join(parts)


def reminder_text(city: City, booking: Booking) -> str:
    day = dt.date.fromisoformat(booking.day)
    name, address, phone = _place(city, booking)
    details = "，".join(part for part in (address and f"地址{address}", phone and f"电话{phone}") if part)
    where = f"{name}（{details}）" if details else name
    return (f"提醒：您明天（{_month_day(day)}）{booking.time} 在{where}有预约。"
            "请带身份证件按时到达；去不了请回复“取消预约”。")
