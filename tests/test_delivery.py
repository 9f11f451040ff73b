"""Inbound dedup and the outbound relay shared by the push channels."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from sqlmodel import select

from bot.channels.testing import TestChat
from bot.delivery import MAX_ATTEMPTS, DeliveryError, deliver_pending, first_delivery, pending
from bot.runtime import Runtime
from bot.store import Message
from handoff.auth import create_lawyer


class RecordingSender:
    name = "testing"

    def __init__(self, fail_first: int = 0, fatal: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail_first = fail_first
        self.fatal = fatal

    async def send(self, user_id: str, message: Message) -> str | None:
        if self.fatal:
            raise DeliveryError("window closed", retryable=False)
        if self.fail_first > 0:
            self.fail_first -= 1
            raise DeliveryError("429 too many requests")
        self.sent.append((user_id, message.text))
        return f"m{len(self.sent)}"


def test_a_delivery_key_is_accepted_once_even_concurrently(runtime: Runtime) -> None:
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(first_delivery(runtime.store, "telegram", "42")))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [False] * 7 + [True]
    assert first_delivery(runtime.store, "wechat", "42")  # keys are per channel


def test_relay_sends_each_message_once_in_order_and_retries_after_a_backoff(
    runtime: Runtime, chat: TestChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat.say("老板拖欠工资三个月了")
    expected = [m.text for m in chat.last.messages]
    assert len(pending(runtime.store, ["testing"])) == len(expected)
    sender = RecordingSender(fail_first=1)
    asyncio.run(deliver_pending(runtime.store, {"testing": sender}))
    assert sender.sent == []  # the first failed: the rest wait, so the citizen reads them in order
    asyncio.run(deliver_pending(runtime.store, {"testing": sender}))
    assert sender.sent == []  # still backing off
    monkeypatch.setattr("bot.delivery.backoff", lambda attempts: dt.timedelta(0))
    with runtime.store.session() as session:  # the backoff has passed
        for message in session.exec(select(Message).where(Message.delivered_at == None)).all():  # noqa: E711
            message.delivery_claimed_at = None
            session.add(message)
        session.commit()
    asyncio.run(deliver_pending(runtime.store, {"testing": sender}))
    assert [text for _, text in sender.sent] == expected
    assert pending(runtime.store, ["testing"]) == []
    asyncio.run(deliver_pending(runtime.store, {"testing": sender}))
    assert len(sender.sent) == len(expected)


def test_a_lawyer_reply_is_relayed_and_a_refusal_is_recorded(runtime: Runtime, chat: TestChat) -> None:
    lawyer = create_lawyer(runtime.store, "wang", "password-123")
    chat.press("/lawyer")
    asyncio.run(deliver_pending(runtime.store, {"testing": RecordingSender()}))
    [view] = runtime.queue.tickets()
    assert view.ticket.id is not None
    runtime.queue.claim(view.ticket.id, lawyer)
    reply = runtime.queue.reply(view.ticket.id, lawyer, "您好，我是王律师")
    asyncio.run(deliver_pending(runtime.store, {"testing": RecordingSender(fatal=True)}))
    with runtime.store.session() as session:
        stored = session.get(Message, reply.id)
    assert stored is not None and stored.delivered_at is None
    assert stored.delivery_error == "window closed" and stored.delivery_attempts == MAX_ATTEMPTS


def test_two_relays_never_send_the_same_message_twice(runtime: Runtime, chat: TestChat) -> None:
    chat.say("房东不退押金怎么办")
    total = len(pending(runtime.store, ["testing"]))
    first, second = RecordingSender(), RecordingSender()

    async def both() -> None:
        await asyncio.gather(deliver_pending(runtime.store, {"testing": first}),
                             deliver_pending(runtime.store, {"testing": second}))

    asyncio.run(both())
    assert len(first.sent) + len(second.sent) == total
