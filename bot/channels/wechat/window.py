"""WeChat's customer-service window (48 hours, 5 messages) and the claims that send each stored message once."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update as sql_update
from sqlmodel import Session, col, select

from bot.channels.wechat.request import UNSUBSCRIBED
from bot.delivery import LEASE_SECONDS
from bot.store import Citizen, Message, Store, utcnow

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

#: After this long nobody can still be answering a message passively (the relay may take its replies).
PASSIVE_HORIZON_MARGIN = 1.0

#: How long an unfinished customer-service send keeps its claim before another worker may retry it
#: (the relay's lease: after it, another relay may call send() for the same message).
SEND_CLAIM_SECONDS = LEASE_SECONDS

#: How long send() waits for another worker that holds the message (after the relay's lease expired).
CLAIM_WAIT = 10.0


#: The customer-service window: a message from the citizen allows 5 messages within 48 hours;
#: subscribing or clicking a menu item only 3 within a minute. The latest action sets the quota anew.
MESSAGE_WINDOW = timedelta(hours=48)

MESSAGE_QUOTA = 5

EVENT_WINDOW = timedelta(minutes=1)

EVENT_QUOTA = 3


#: ``Message.channel_message_id`` of outgoing WeChat messages says how each one was (being) sent.
PASSIVE = "passive:"  # in the HTTP response to the citizen's message

SENT = "kf:"  # as customer-service messages; "kf:2" = two API calls (a long text is split)

SENDING = "kf-sending:"  # claimed by a worker that is sending it now: "kf-sending:<epoch>:<random>"



def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Window:
    expires_at: datetime | None
    remaining: int
    #: Why nothing can be sent now (a DeliveryError reason), or None while messages can go out.
    closed_reason: str | None = None


def _sent_since(session: Session, citizen_id: int, since: datetime) -> int:
    """Customer-service messages (API calls) WeChat accepted for this citizen since ``since``."""
    markers = session.exec(
        select(Message.channel_message_id).where(
            Message.citizen_id == citizen_id, Message.direction == "out",
            col(Message.delivered_at) > since, col(Message.channel_message_id).startswith(SENT))
    ).all()
    return sum(int(m.split(":", 1)[1]) if m and m.split(":", 1)[1].isdigit() else 1 for m in markers)


def window(session: Session, citizen: Citizen, now: datetime | None = None) -> Window:
    """The customer-service window now open for a citizen (see ``reply_window``)."""
    now = now or utcnow()
    assert citizen.id is not None
    latest = session.exec(
        select(Message).where(Message.citizen_id == citizen.id, Message.direction == "in")
        .order_by(col(Message.id).desc())
    ).first()
    if latest is not None and latest.kind == "event" and latest.text == UNSUBSCRIBED:
        return Window(None, 0, "wechat_unsubscribed: 市民已取消关注公众号，消息无法送达")
    last_message = latest if latest is not None and latest.kind != "event" else session.exec(
        select(Message).where(Message.citizen_id == citizen.id, Message.direction == "in", Message.kind != "event")
        .order_by(col(Message.id).desc())
    ).first()
    # Subscribing and menu clicks also set last_inbound_at but open only a short window; the stored
    # messages tell them apart. Without stored messages (deleted data) last_inbound_at still counts.
    candidates: list[tuple[datetime, datetime, int]] = []  # (opened, expires, quota)
    if last_message is not None:
        opened = _aware(last_message.created_at)
        candidates.append((opened, opened + MESSAGE_WINDOW, MESSAGE_QUOTA))
    elif latest is None and citizen.last_inbound_at is not None:
        opened = _aware(citizen.last_inbound_at)
        candidates.append((opened, opened + MESSAGE_WINDOW, MESSAGE_QUOTA))
    if latest is not None and latest.kind == "event":
        opened = _aware(latest.created_at)
        candidates.append((opened, opened + EVENT_WINDOW, EVENT_QUOTA))
    if not candidates:
        return Window(None, 0, "wechat_window_closed: 该市民从未给公众号发过消息，微信不允许主动发送客服消息")
    open_now = [c for c in candidates if c[1] > now]
    if not open_now:
        expires = max(c[1] for c in candidates)
        return Window(expires, 0, f"wechat_window_closed: 距市民最后一条消息已超过48小时（回复窗口已于 "
                                  f"{expires:%Y-%m-%d %H:%M} UTC 关闭），微信不再允许发送客服消息；"
                                  f"请等市民再次留言，或通过12348电话联系")
    opened, expires, quota = max(open_now, key=lambda c: c[1])
    remaining = max(quota - _sent_since(session, citizen.id, opened), 0)
    if remaining == 0:
        return Window(expires, 0, f"wechat_quota_used: 自市民最后一条消息以来已发送{quota}条客服消息，"
                                  f"达到微信上限；请等市民再次留言")
    return Window(expires, remaining)


def reply_window(store: Store, citizen: Citizen) -> tuple[datetime | None, int]:
    """Until when WeChat accepts customer-service messages to this citizen, and how many more.

    (None, 0) when there is no window at all: the citizen never wrote or has unfollowed the account.
    An ``expires_at`` in the past means the window has closed. Passive replies do not count.
    """
    with store.session() as session:
        result = window(session, citizen)
    return result.expires_at, result.remaining


# ---- claims: a stored message goes out once, passively or as a customer-service message ----------


def claim_passive(store: Store, message_ids: list[int], marker: str) -> set[int]:
    """Mark the messages delivered in the passive reply, unless the relay already took them."""
    if not message_ids:
        return set()
    with store.session() as session:
        session.execute(
            sql_update(Message)
            .where(col(Message.id).in_(message_ids), col(Message.delivered_at).is_(None),
                   col(Message.channel_message_id).is_(None))
            .values(delivered_at=utcnow(), delivery_attempts=col(Message.delivery_attempts) + 1,
                    channel_message_id=marker, delivery_error=None)
        )
        session.commit()
        claimed = session.exec(
            select(Message.id).where(col(Message.id).in_(message_ids), Message.channel_message_id == marker)
        ).all()
    return {i for i in claimed if i is not None}


def _claim_for_sending(store: Store, message_id: int) -> str | None:
    """Claim a message for a customer-service send; None if it is delivered or another worker has it."""
    now = int(time.time())
    token = f"{SENDING}{now:010d}:{secrets.token_hex(4)}"
    stale = f"{SENDING}{now - SEND_CLAIM_SECONDS:010d}"
    with store.session() as session:
        claimable = col(Message.channel_message_id).is_(None) | (
            col(Message.channel_message_id).startswith(SENDING) & (col(Message.channel_message_id) < stale))
        result = session.execute(
            sql_update(Message).where(col(Message.id) == message_id, col(Message.delivered_at).is_(None), claimable)
            .values(channel_message_id=token)
        )
        session.commit()
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _release(store: Store, message_id: int, token: str) -> None:
    with store.session() as session:
        session.execute(
            sql_update(Message).where(col(Message.id) == message_id, col(Message.channel_message_id) == token)
            .values(channel_message_id=None)
        )
        session.commit()


@dataclass
class _Outbound:
    """What send() needs to know about a stored message, read in one transaction."""

    delivered_marker: str | None  # set when it has been delivered already
    passive_until: float  # epoch seconds until which a passive reply may still take it
    lang: str
    window: Window


def _outbound(store: Store, message_id: int, horizon: float) -> _Outbound:
    with store.session() as session:
        message = session.get(Message, message_id)
        assert message is not None
        citizen = session.get(Citizen, message.citizen_id)
        assert citizen is not None
        passive_until = 0.0
        if message.sender != "lawyer" and message.lawyer_id is None:
            trigger = session.exec(
                select(Message.created_at).where(Message.citizen_id == citizen.id, Message.direction == "in",
                                                 col(Message.id) < message_id)
                .order_by(col(Message.id).desc())
            ).first()
            if trigger is not None:
                passive_until = _aware(trigger).timestamp() + horizon
        delivered = (message.channel_message_id or "delivered") if message.delivered_at is not None else None
        return _Outbound(delivered, passive_until, citizen.language, window(session, citizen))


