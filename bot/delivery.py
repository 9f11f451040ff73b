"""Delivery bookkeeping shared by the push channels (Telegram, WeChat).

Inbound: ``first_delivery`` records a channel's delivery key (Telegram update_id, WeChat MsgId) in
its own transaction before the message is processed; a redelivery, even one that arrives while the
first is still being processed, finds the key and is dropped, so nobody gets a second reply.

Outbound: every outgoing message on a push channel is stored first and sent by the relay, which
retries until the channel accepts it (``delivered_at``) and records why when it cannot. Lawyer
replies therefore reach Telegram or WeChat even if the server restarts in between.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.store import Citizen, InboundUpdate, Message, Store, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
#: How long a relay may hold a message before another one may try it (a crashed worker's lease).
LEASE_SECONDS = 120


#: Channels that limit when a lawyer may still reply (WeChat's customer-service window) register how to
#: compute it: (closes at, messages left). The console counts it down.
ReplyWindow = Callable[[Store, Citizen], tuple[dt.datetime | None, int]]
_REPLY_WINDOWS: dict[str, ReplyWindow] = {}


def register_reply_window(channel: str, window: ReplyWindow) -> None:
    _REPLY_WINDOWS[channel] = window


def reply_window(store: Store, citizen: Citizen) -> dict[str, Any] | None:
    window = _REPLY_WINDOWS.get(citizen.channel)
    if window is None:
        return None
    expires_at, remaining = window(store, citizen)
    return {"expires_at": expires_at.isoformat() if expires_at else None, "remaining": remaining}


class DeliveryError(Exception):
    """The channel refused a message. ``retryable`` False means trying again cannot help."""

    def __init__(self, reason: str, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Sender(Protocol):
    name: str

    async def send(self, user_id: str, message: Message) -> str | None:
        """Deliver one stored outgoing message; return the channel's message id if it gives one."""


def first_delivery(store: Store, channel: str, key: str) -> bool:
    """True the first time (channel, key) is seen; False for a redelivery."""
    with store.session() as session:
        session.add(InboundUpdate(channel=channel, key=key[:128]))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def pending(store: Store, channels: list[str], limit: int = 100,
            citizen_id: int | None = None) -> list[tuple[Message, Citizen]]:
    """Undelivered outgoing messages nobody is sending right now (no lease, or an expired one)."""
    lease_expired = utcnow() - dt.timedelta(seconds=LEASE_SECONDS)
    with store.session() as session:
        query = (
            select(Message, Citizen).join(Citizen, col(Citizen.id) == Message.citizen_id)
            .where(Message.direction == "out", col(Message.delivered_at).is_(None),
                   col(Citizen.channel).in_(channels), col(Message.delivery_attempts) < MAX_ATTEMPTS,
                   or_(col(Message.delivery_claimed_at).is_(None), col(Message.delivery_claimed_at) < lease_expired))
            .order_by(col(Message.id)).limit(limit)
        )
        if citizen_id is not None:
            query = query.where(Message.citizen_id == citizen_id)
        return [(m, c) for m, c in session.exec(query).all()]


def first_undelivered(store: Store, citizen_ids: set[int]) -> dict[int, int | None]:
    """Per citizen, the oldest outgoing message still to deliver (whatever its lease)."""
    if not citizen_ids:
        return {}
    with store.session() as session:
        rows = session.exec(
            select(Message.citizen_id, func.min(Message.id))
            .where(Message.direction == "out", col(Message.delivered_at).is_(None),
                   col(Message.delivery_attempts) < MAX_ATTEMPTS, col(Message.citizen_id).in_(citizen_ids))
            .group_by(col(Message.citizen_id))
        ).all()
    return {citizen: first for citizen, first in rows}


def claim(store: Store, message: Message) -> bool:
    """Take the sending lease with a conditional update: of several relays, exactly one wins."""
    lease_expired = utcnow() - dt.timedelta(seconds=LEASE_SECONDS)
    with store.session() as session:
        result = session.execute(
            update(Message)
            .where(col(Message.id) == message.id, col(Message.delivered_at).is_(None),
                   or_(col(Message.delivery_claimed_at).is_(None), col(Message.delivery_claimed_at) < lease_expired))
            .values(delivery_claimed_at=utcnow())
        )
        session.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]


def mark_delivered(store: Store, message_id: int, channel_message_id: str | None = None) -> None:
    with store.session() as session:
        message = session.get(Message, message_id)
        if message is not None:
            message.delivered_at = utcnow()
            message.delivery_attempts += 1
            message.channel_message_id = channel_message_id or message.channel_message_id
            message.delivery_error = None
            session.add(message)
            session.commit()


def backoff(attempts: int) -> dt.timedelta:
    """2, 4, 8 … seconds, at most 10 minutes: 20 attempts span about two hours of outage."""
    return dt.timedelta(seconds=min(2 ** max(attempts, 1), 600))


def mark_failed(store: Store, message_id: int, reason: str, retryable: bool) -> None:
    with store.session() as session:
        message = session.get(Message, message_id)
        if message is not None:
            message.delivery_attempts = message.delivery_attempts + 1 if retryable else MAX_ATTEMPTS
            message.delivery_error = reason[:500]
            # Keep the lease so that the next try waits out the backoff instead of hammering the platform.
            lease = dt.timedelta(seconds=LEASE_SECONDS)
            message.delivery_claimed_at = utcnow() - lease + backoff(message.delivery_attempts)
            session.add(message)
            session.commit()


async def deliver_pending(store: Store, senders: Mapping[str, Sender], citizen_id: int | None = None) -> int:
    """Send what is waiting, oldest first; returns how many were delivered."""
    delivered = 0
    items = await asyncio.to_thread(pending, store, list(senders), 100, citizen_id)
    first = await asyncio.to_thread(first_undelivered, store, {c.id for _, c in items if c.id is not None})
    held_back: set[int] = set()  # citizens with an earlier message not yet delivered: keep their order
    for message, citizen in items:
        assert message.id is not None and citizen.id is not None
        expected = first.get(citizen.id)
        if citizen.id in held_back or (expected is not None and message.id != expected):
            held_back.add(citizen.id)  # an earlier message is backing off or being sent by another relay
            continue
        if not await asyncio.to_thread(claim, store, message):
            held_back.add(citizen.id)
            continue
        try:
            channel_message_id = await senders[citizen.channel].send(citizen.channel_user_id, message)
        except DeliveryError as exc:
            log.warning("delivery of message %s failed: %s", message.id, exc.reason)
            await asyncio.to_thread(mark_failed, store, message.id, exc.reason, exc.retryable)
            if exc.retryable:
                held_back.add(citizen.id)
            else:
                first[citizen.id] = None  # it will never go: the next one may
            continue
        await asyncio.to_thread(mark_delivered, store, message.id, channel_message_id)
        first[citizen.id] = None  # the next one in this batch may follow
        delivered += 1
    return delivered


async def relay_forever(store: Store, senders: Mapping[str, Sender], interval: float = 1.0) -> None:
    while True:
        try:
            await deliver_pending(store, senders)
        except Exception:
            log.exception("relay pass failed; will retry")
        await asyncio.sleep(interval)
