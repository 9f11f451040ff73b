"""Service centres and appointments in the conversation (issue 14, part 4): a district's centres, the
"15-minute public legal service circle", and booking a visit step by step, each step carried by the
button pressed; cancelling; the reminder the day before. The seats themselves are services/bookings.py's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlmodel import Session, col, select

from bot.conversations import add_message
from bot.store import Citizen, Conversation, Store
from bot.taxonomy import SERVICE_NAMES
from services import bookings
from services.city import City, CityError

log = logging.getLogger(__name__)

#: Appointments: ``/book`` (choose a district), ``/book:<district>`` (its centres), ``/book:<centre>``
#: (days), ``/book:<centre>:<day>`` (times) and ``/book:<centre>:<day>:<time>``; ``/bookings`` lists the
#: citizen's own; ``/unbook:<id>`` cancels.
BOOK = "/book"
BOOKINGS = "/bookings"
UNBOOK = "/unbook:"
#: The centres of a district: ``/centres[:<district>]``.
CENTRES = "/centres"
LEVEL_NAMES = {"city": "市级", "county": "县区级", "street": "乡镇街道", "community": "村社区"}

Say = Callable[..., None]


def _button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


class Visits:
    """``city``: the city file as it is now (raises OSError or CityError when it cannot be used)."""

    def __init__(self, city: Callable[[], City]) -> None:
        self.city = city

    def payload(self, session: Session, citizen: Citizen, payload: str, say: Say) -> None:
        if payload.startswith(CENTRES):
            self._centres(payload.removeprefix(CENTRES).lstrip(":"), say)
        elif payload == BOOKINGS:
            self._bookings(session, citizen, say)
        elif payload.startswith(UNBOOK):
            self._unbook(session, citizen, payload.removeprefix(UNBOOK), say)
        else:
            self._book(session, citizen, payload.removeprefix(BOOK).lstrip(":"), say)

    # ---- centres by district ---------------------------------------------------------------

    def _centres(self, district: str, say: Say) -> None:
        """The centres serving a district, nearest level first, with what each offers; bookable ones get a
        button to book."""
        try:
            city = self.city()
        except (OSError, CityError):
            log.exception("cannot read the city file")
            say("暂时无法查询服务点，请拨打12348。")
            return
        if district not in city.districts:
            say("请选择您所在的区县：", buttons=[_button(d, f"{CENTRES}:{d}") for d in city.districts])
            return
        centres = city.centres_in(district)
        lines = [f"{district}的公共法律服务点（由近及远）："]
        for centre in centres:
            offers = "、".join(SERVICE_NAMES[s][0] for s in centre.services)
            lines.append(f"· {centre.name}（{LEVEL_NAMES[centre.level]}）\n  {centre.address} · {centre.hours} · "
                         f"电话 {centre.phone}\n  可办：{offers}")
        say("\n".join(lines) if centres else "这个区县暂时没有登记的服务点，请拨打12348。",
            buttons=[_button(f"预约：{c.name}", f"{BOOK}:{c.id}") for c in centres if c.bookable])

    # ---- appointments at a service centre -----------------------------------------------------------

    def _book(self, session: Session, citizen: Citizen, value: str, say: Say) -> None:
        """One step of booking, carried by the button pressed: district, centre, day, time."""
        try:
            city = self.city()
        except (OSError, CityError):
            log.exception("cannot read the city file; no appointments")
            say("暂时无法预约，请拨打12348。")
            return
        parts = value.split(":") if value else []
        if not parts:
            say("请选择您所在的区县：", buttons=[_button(d, f"{BOOK}:{d}") for d in city.districts])
            return
        if len(parts) == 1 and parts[0] in city.districts:
            centres = [c for c in city.centres_in(parts[0]) if c.bookable]
            if not centres:
                say("这个区县暂时没有可以预约的中心，请拨打12348。")
                return
            say("可以预约这些中心，请选择：", buttons=[_button(c.name, f"{BOOK}:{c.id}") for c in centres])
            return
        centre = city.centre(parts[0])
        if centre is None or not centre.bookable:
            say(bookings.UNKNOWN_CENTRE if centre is None else bookings.NOT_BOOKABLE, buttons=[_button("重新选择", BOOK)])
            return
        try:
            day = dt.date.fromisoformat(parts[1]) if len(parts) > 1 else None
        except ValueError:
            day = None
        if day is None:
            days = bookings.open_days(session, city, centre.id, dt.date.today())
            if not days:
                say(f"{centre.name}最近两周已约满，请选择其他中心或拨打 {centre.phone}。", buttons=[_button("重新选择", BOOK)])
                return
            say(f"{centre.name}（{centre.address}）哪天方便？",
                buttons=[_button(f"{d.month}月{d.day}日 {bookings.WEEKDAYS[d.weekday()]}", f"{BOOK}:{centre.id}:{d}")
                         for d in days[:7]])
            return
        if len(parts) == 2:
            free = bookings.free_slots(session, city, centre.id, day)
            if not free:
                say("这一天已约满，请换一天。", buttons=[_button("换一天", f"{BOOK}:{centre.id}")])
                return
            say(f"{day.month}月{day.day}日，选一个时间：",
                buttons=[_button(f"{time}（余{left}）", f"{BOOK}:{centre.id}:{day}:{time}") for time, left in free])
            return
        time = ":".join(parts[2:4])
        try:
            booking = bookings.book(session, city, centre.id, day, time, citizen.id or 0)
        except bookings.BookingError as exc:
            say(f"{exc}。", buttons=[_button("换一个时间", f"{BOOK}:{centre.id}:{day}")])
            return
        say("预约成功：" + bookings.describe(city, booking) + "\n请带身份证件按时到达，前一天会提醒您。",
            buttons=[_button("取消预约", f"{UNBOOK}{booking.id}"), _button("我的预约", BOOKINGS)],
            decision={"booking": booking.id})

    def _bookings(self, session: Session, citizen: Citizen, say: Say) -> None:
        mine = bookings.upcoming(session, citizen.id or 0)
        if not mine:
            say("您现在没有预约。", buttons=[_button("预约到中心", BOOK)])
            return
        city = self.city()
        say("您的预约：\n" + "\n".join(f"{n}. {bookings.describe(city, b)}" for n, b in enumerate(mine, 1)),
            buttons=[_button(f"取消第{n}个", f"{UNBOOK}{b.id}") for n, b in enumerate(mine, 1)]
            + [_button("再约一个", BOOK)])

    def _unbook(self, session: Session, citizen: Citizen, value: str, say: Say) -> None:
        try:
            if not value.isdigit():
                raise bookings.BookingError(bookings.NOT_FOUND)
            booking = bookings.cancel(session, int(value), citizen.id or 0)
        except bookings.BookingError as exc:
            say(f"{exc}。")
            return
        say("已取消预约：" + bookings.describe(self.city(), booking) + "。需要时可以重新预约。",
            buttons=[_button("重新预约", BOOK)], decision={"booking_cancelled": booking.id})

    # ---- the reminder the day before (the housekeeping loop) ---------------------------------------

    def remind(self, store: Store, now: dt.datetime) -> int:
        """Tomorrow's appointments reminded, each once: marked in the transaction that writes the reminder."""
        try:
            city = self.city()
        except (OSError, CityError):
            log.exception("cannot read the city file; appointment reminders wait")
            return 0
        reminded = 0
        with store.session() as session:
            for booking in bookings.due_reminders(session, now):
                conversation = session.exec(select(Conversation).where(Conversation.citizen_id == booking.citizen_id)
                                            .order_by(col(Conversation.id).desc())).first()
                if conversation is not None:
                    add_message(session, conversation, direction="out", sender="bot",
                                text=bookings.reminder_text(city, booking),
                                buttons=[_button("取消预约", f"{UNBOOK}{booking.id}")],
                                decision={"booking_reminder": booking.id})
                bookings.mark_reminded(session, booking, now)
                reminded += 1
            session.commit()
        return reminded
