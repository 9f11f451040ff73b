"""Appointments at service centres (services/bookings.py), on SQLite and PostgreSQL: seats fill up and
free again, bad requests are refused with a reason the citizen can read, and citizens booking the last
seats at once never share one."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.store import Booking, Citizen, Store
from services import bookings
from services.bookings import BookingError, book, cancel, reschedule
from services.city import City, load_city

#: A Monday morning; every test runs at this moment.
NOW = dt.datetime(2026, 12, 7, 8, 0)
MONDAY, TUESDAY, WEDNESDAY = (NOW.date() + dt.timedelta(days=n) for n in range(3))

CITY_YAML = """
city: 测试市
districts:
  - {name: 测试区, streets: [测试街道]}
offices: []
centres:
  - id: c-main
    level: city
    name: 测试市公共法律服务中心
    address: 测试大道1号
    phone: "12348"
    lat: 30.0
    lon: 120.0
    services: [consultation]
    slots:
      weekdays: [1, 2, 3, 4, 5]
      times: ["09:00", "14:00"]
      capacity: 3
      closed: [2026-12-09]
  - id: c-walk-in
    level: county
    name: 测试区公共法律服务中心
    district: 测试区
    address: 测试路2号
    phone: "0000-1"
    lat: 30.1
    lon: 120.1
    services: [consultation]
"""


@pytest.fixture
def city(tmp_path: Path) -> City:
    path = tmp_path / "city.yml"
    path.write_text(CITY_YAML, encoding="utf-8")
    return load_city(path)


def citizens(store: Store, n: int) -> list[int]:
    with store.session() as session:
        rows = [Citizen(channel="test", channel_user_id=f"citizen-{i}") for i in range(n)]
        session.add_all(rows)
        session.commit()
        return [c.id for c in rows if c.id is not None]


def refused(store: Store, city: City, centre: str, day: dt.date, time: str, citizen: int) -> str:
    with store.session() as session, pytest.raises(BookingError) as caught:
        book(session, city, centre, day, time, citizen, now=NOW)
    return str(caught.value)


def booked_seats(store: Store) -> list[tuple[str, str, int]]:
    with store.session() as session:
        rows = session.exec(select(Booking).where(Booking.status == "booked")).all()
        return sorted((b.day, b.time, b.seat) for b in rows)


def test_seats_fill_one_to_capacity_then_the_slot_is_full(store: Store, city: City) -> None:
    ids = citizens(store, 4)
    seats = []
    for citizen in ids[:3]:
        with store.session() as session:
            seats.append(book(session, city, "c-main", MONDAY, "09:00", citizen, now=NOW).seat)
            session.commit()
    assert seats == [1, 2, 3]
    assert refused(store, city, "c-main", MONDAY, "09:00", ids[3]) == "这个时段已约满，请换一个时间"
    with store.reader() as session:
        assert bookings.free_slots(session, city, "c-main", MONDAY, now=NOW) == [("14:00", 3)]
        assert bookings.capacity(city, "c-main") == 3 and bookings.capacity(city, "c-walk-in") == 0


def test_bad_requests_are_refused_with_a_reason(store: Store, city: City) -> None:
    [citizen] = citizens(store, 1)
    yesterday = NOW.date() - dt.timedelta(days=1)
    assert refused(store, city, "c-main", yesterday, "09:00", citizen) == "预约日期已过"
    assert refused(store, city, "c-main", MONDAY, "10:00", citizen) == "这个时间没有预约时段，可选：09:00、14:00"
    assert refused(store, city, "c-main", WEDNESDAY, "09:00", citizen) == "这一天不开放预约，请换一天"  # closed
    assert refused(store, city, "c-main", MONDAY + dt.timedelta(days=5), "09:00", citizen) == "这一天不开放预约，请换一天"
    assert refused(store, city, "c-nowhere", MONDAY, "09:00", citizen) == "没有找到这个服务中心"
    assert refused(store, city, "c-walk-in", MONDAY, "09:00", citizen) == "这个中心不接受预约"
    assert refused(store, city, "c-main", MONDAY + dt.timedelta(days=14), "09:00", citizen) == "只能预约未来14天内的时段"
    with store.session() as session:  # the last day of the horizon is fine
        last_day = MONDAY + dt.timedelta(days=11)
        assert book(session, city, "c-main", last_day, "09:00", citizen, now=NOW).seat == 1
    later = NOW.replace(hour=9, minute=30)
    with store.session() as session, pytest.raises(BookingError, match="这个时段已经过了"):
        book(session, city, "c-main", MONDAY, "09:00", citizen, now=later)
    assert booked_seats(store) == []  # nothing was committed


def test_one_citizen_cannot_take_two_seats_of_a_slot(store: Store, city: City) -> None:
    [citizen] = citizens(store, 1)
    with store.session() as session:
        book(session, city, "c-main", MONDAY, "09:00", citizen, now=NOW)
        session.commit()
    assert refused(store, city, "c-main", MONDAY, "09:00", citizen) == "您已经预约了这个时段"
    with store.session() as session:  # another slot is fine
        assert book(session, city, "c-main", MONDAY, "14:00", citizen, now=NOW).seat == 1


def test_cancelling_frees_the_seat(store: Store, city: City) -> None:
    first, second = citizens(store, 2)
    with store.session() as session:
        taken = book(session, city, "c-main", MONDAY, "09:00", first, now=NOW)
        session.commit()
    with store.session() as session:
        assert cancel(session, taken.id or 0, first, now=NOW).status == "cancelled"
        session.commit()
    with store.session() as session:
        assert book(session, city, "c-main", MONDAY, "09:00", second, now=NOW).seat == 1
        session.commit()
    with store.session() as session, pytest.raises(BookingError, match="没有找到您的这个预约"):
        cancel(session, taken.id or 0, first, now=NOW)  # already cancelled


def test_nobody_cancels_another_citizens_booking(store: Store, city: City) -> None:
    owner, other = citizens(store, 2)
    with store.session() as session:
        taken = book(session, city, "c-main", MONDAY, "09:00", owner, now=NOW)
        session.commit()
    with store.session() as session, pytest.raises(BookingError, match="没有找到您的这个预约"):
        cancel(session, taken.id or 0, other, now=NOW)
    assert booked_seats(store) == [(MONDAY.isoformat(), "09:00", 1)]


def test_reschedule_moves_and_a_failed_one_keeps_the_old_booking(store: Store, city: City) -> None:
    mover, *others = citizens(store, 4)
    with store.session() as session:
        old = book(session, city, "c-main", MONDAY, "09:00", mover, now=NOW)
        session.commit()
    with store.session() as session:
        new = reschedule(session, city, old.id or 0, mover, TUESDAY, "14:00", now=NOW)
        session.commit()
    assert (new.day, new.time, new.seat, new.status) == (TUESDAY.isoformat(), "14:00", 1, "booked")
    assert booked_seats(store) == [(TUESDAY.isoformat(), "14:00", 1)]
    with store.session() as session:
        for citizen in others:
            book(session, city, "c-main", MONDAY, "14:00", citizen, now=NOW)
        session.commit()
    with store.session() as session, pytest.raises(BookingError, match="已约满"):
        reschedule(session, city, new.id or 0, mover, MONDAY, "14:00", now=NOW)
    with store.session() as session:
        kept = session.get(Booking, new.id)
        assert kept is not None and kept.status == "booked"
        assert [b.id for b in bookings.upcoming(session, mover, now=NOW)] == [new.id]


def test_a_seat_taken_meanwhile_sends_the_booking_to_the_next_seat(
        store: Store, city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if another worker booked seat 1 after this one looked: the insert fails in its savepoint and the
    transaction goes on with seat 2."""
    first, second = citizens(store, 2)
    with store.session() as session:
        book(session, city, "c-main", MONDAY, "09:00", first, now=NOW)
        session.commit()
    monkeypatch.setattr(bookings, "_taken_seats", lambda *_: set())
    with store.session() as session:
        assert book(session, city, "c-main", MONDAY, "09:00", second, now=NOW).seat == 2
        session.commit()
    assert booked_seats(store) == [(MONDAY.isoformat(), "09:00", 1), (MONDAY.isoformat(), "09:00", 2)]


def test_a_citizen_who_does_not_exist_is_an_error_not_a_full_slot(store: Store, city: City) -> None:
    with store.session() as session, pytest.raises(IntegrityError):
        book(session, city, "c-main", MONDAY, "09:00", 999_999, now=NOW)


def test_reminders_are_for_tomorrow_and_only_once(store: Store, city: City) -> None:
    first, second, third = citizens(store, 3)
    with store.session() as session:
        today = book(session, city, "c-main", MONDAY, "14:00", first, now=NOW)
        tomorrow = book(session, city, "c-main", TUESDAY, "09:00", second, now=NOW)
        dropped = book(session, city, "c-main", TUESDAY, "14:00", third, now=NOW)
        cancel(session, dropped.id or 0, third, now=NOW)
        session.commit()
    with store.session() as session:
        due = bookings.due_reminders(session, now=NOW)
        assert [b.id for b in due] == [tomorrow.id]
        assert bookings.reminder_text(city, due[0]) == (
            "提醒：您明天（12月8日）09:00 在测试市公共法律服务中心（地址测试大道1号，电话12348）有预约。"
            "请带身份证件按时到达；去不了请回复“取消预约”。")
        assert bookings.describe(city, due[0]) == "12月8日 周二 09:00 · 测试市公共法律服务中心 · 测试大道1号"
        bookings.mark_reminded(session, due[0], NOW)
        session.commit()
    with store.session() as session:
        assert bookings.due_reminders(session, now=NOW) == []
        assert [b.id for b in bookings.due_reminders(session, now=NOW - dt.timedelta(days=1))] == [today.id]
        reminded = session.get(Booking, tomorrow.id)
        assert reminded is not None and reminded.reminded_at is not None


def test_open_days_list_only_days_with_a_free_seat(store: Store, city: City) -> None:
    ids = citizens(store, 3)
    with store.session() as session:
        for citizen in ids:
            for time in ("09:00", "14:00"):
                book(session, city, "c-main", TUESDAY, time, citizen, now=NOW)
        session.commit()
    with store.reader() as session:
        days = bookings.open_days(session, city, "c-main", MONDAY, now=NOW)
        assert bookings.free_slots(session, city, "c-main", TUESDAY, now=NOW) == []
    # Mondays to Fridays for two weeks, but not the full Tuesday nor the closed Wednesday.
    assert days == [MONDAY + dt.timedelta(days=n) for n in (0, 3, 4, 7, 8, 9, 10, 11)]


def test_citizens_booking_at_once_never_share_a_seat(
        store: Store, city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    seats = bookings.capacity(city, "c-main")
    ids = citizens(store, seats + 3)
    if store.is_postgres:
        # Let every worker see the slot empty before any inserts, so they all race for seat 1. (SQLite runs
        # one transaction at a time: there the workers queue instead.)
        looked = threading.Barrier(len(ids), timeout=10)
        taken_seats = bookings._taken_seats

        def look_together(*args: object) -> set[int]:
            seen = taken_seats(*args)  # type: ignore[arg-type]
            looked.wait()
            return seen

        monkeypatch.setattr(bookings, "_taken_seats", look_together)
    start = threading.Barrier(len(ids), timeout=10)
    outcomes: dict[int, int | str] = {}

    def worker(citizen: int) -> None:
        start.wait()
        try:
            with store.session() as session:
                seat = book(session, city, "c-main", MONDAY, "09:00", citizen, now=NOW).seat
                session.commit()
            outcomes[citizen] = seat
        except BookingError as exc:
            outcomes[citizen] = str(exc)
        except Exception as exc:  # reported by the assertions below, not lost in the thread
            outcomes[citizen] = repr(exc)

    threads = [threading.Thread(target=worker, args=(citizen,)) for citizen in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(v for v in outcomes.values() if isinstance(v, int)) == list(range(1, seats + 1))
    assert [v for v in outcomes.values() if isinstance(v, str)] == ["这个时段已约满，请换一个时间"] * 3
    assert booked_seats(store) == [(MONDAY.isoformat(), "09:00", seat) for seat in range(1, seats + 1)]
