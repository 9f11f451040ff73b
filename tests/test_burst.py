"""A burst is one question; a message nobody processed is found and answered; workers never double up."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlmodel import col, select

from bot.channels.testing import TestChat
from bot.engine import Incoming
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.store import Citizen, Conversation, HandoffTicket, Message
from bot.taxonomy import ConversationStatus, TicketStatus


@pytest.fixture
def bursty(settings: Settings) -> Runtime:
    rt = build_runtime(settings.model_copy(update={"burst_window_seconds": 2.0}))
    yield rt
    rt.store.dispose()


def _later(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


def test_fragments_are_read_with_the_question_and_answered_once(bursty: Runtime) -> None:
    chat = TestChat(bursty.engine, user_id="burst-1")
    assert chat.say("在吗") == [] and chat.last.pending
    assert chat.say("我想问个事") == [] and chat.last.pending
    chat.say("房东不退押金怎么办")
    texts = [m.text for m in chat.last.messages]
    assert any("法律依据" in t for t in texts)
    assert not any("请直接说说" in t for t in texts)  # no separate greeting menu
    with bursty.store.session() as session:
        inbound = session.exec(select(Message).where(Message.direction == "in").order_by(col(Message.id))).all()
        outbound = session.exec(select(Message).where(Message.direction == "out")).all()
    assert [m.text for m in inbound] == ["在吗", "我想问个事", "房东不退押金怎么办"]  # each fragment kept
    last = inbound[-1].id
    assert all(m.processed_at is not None for m in inbound)
    assert [m.decision["read_with"] for m in inbound[:2]] == [last, last]
    assert {m.reply_to for m in outbound} == {last}
    # the first POST of the burst sees the same answer once it is there
    assert [m.id for m in bursty.engine.reply_to(inbound[0].id or 0, 0).messages] == [m.id for m in chat.last.messages]


def test_a_lone_greeting_is_answered_once_its_window_passes(bursty: Runtime) -> None:
    chat = TestChat(bursty.engine, user_id="burst-2")
    chat.say("在吗")
    assert bursty.engine.process_backlog() == 0  # still within the window
    assert bursty.engine.process_backlog(now=_later(3)) == 1
    reply = bursty.engine.reply_to(chat.last.incoming.id or 0, 0)
    assert any("请直接说说" in m.text for m in reply.messages)
    assert bursty.engine.process_backlog(now=_later(3)) == 0  # exactly once


def test_urgent_short_messages_are_never_held(bursty: Runtime) -> None:
    chat = TestChat(bursty.engine, user_id="burst-3")
    chat.say("救命他要杀我")
    assert not chat.last.pending and "110" in chat.last_text


def test_a_message_left_by_a_killed_worker_is_processed_at_start_up(runtime: Runtime) -> None:
    accepted = runtime.engine.accept(Incoming(channel="web", user_id="crashed-1", text="房东不退押金怎么办"))
    # the worker died here: stored, never processed
    assert runtime.engine.reply_to(accepted.message.id or 0, 0).pending
    assert runtime.engine.process_backlog() == 1
    reply = runtime.engine.reply_to(accepted.message.id or 0, 0)
    assert not reply.pending and reply.messages


def test_a_failure_while_processing_apologises_and_marks_the_message(runtime: Runtime,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(runtime.engine.kb, "search", broken)
    chat = TestChat(runtime.engine, user_id="broken-1")
    chat.say("房东不退押金怎么办")
    assert chat.last.incoming.failed and "抱歉" in chat.last_text
    assert runtime.engine.process_backlog(now=_later(60)) == 0  # failed is final, not retried forever


def _fire(runtime: Runtime, user_id: str, texts: list[str]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(texts))

    def send(text: str) -> None:
        barrier.wait()
        try:
            runtime.engine.handle(Incoming(channel="web", user_id=user_id, text=text))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_simultaneous_first_messages_make_one_citizen_and_are_each_answered_once(runtime: Runtime) -> None:
    user = f"new-{uuid.uuid4().hex[:8]}"
    texts = [f"我想找律师咨询一下（{n}）" if n % 3 == 0 else f"房东不退押金怎么办（{n}）" for n in range(12)]
    assert _fire(runtime, user, texts) == []
    with runtime.store.session() as session:
        assert len(session.exec(select(Citizen).where(Citizen.channel_user_id == user)).all()) == 1
        inbound = session.exec(select(Message).where(Message.direction == "in").order_by(col(Message.id))).all()
        outbound = session.exec(select(Message).where(Message.direction == "out").order_by(col(Message.id))).all()
        conversations = session.exec(select(Conversation)).all()
        tickets = session.exec(select(HandoffTicket)).all()
    assert sorted(m.text for m in inbound) == sorted(texts)
    assert all(m.processed_at is not None and not m.failed for m in inbound)
    # in order: the replies to an earlier message all come before the replies to a later one
    order = [m.reply_to for m in outbound if m.reply_to is not None]
    assert order == sorted(order) and set(order) <= {m.id for m in inbound}
    assert sum(1 for m in outbound if "我不是律师" in m.text) == 1  # the notice once
    assert len([c for c in conversations if c.status != ConversationStatus.closed]) <= 1
    open_tickets = [t for t in tickets if t.status in (TicketStatus.waiting, TicketStatus.claimed)]
    assert len(open_tickets) <= 1
