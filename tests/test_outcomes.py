"""Every conversation ends with exactly one outcome from the closed set, whatever citizens and lawyers do."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import Conversation, HandoffTicket, Lawyer, Message
from bot.taxonomy import ConversationStatus, Outcome, TicketStatus
from handoff.auth import create_lawyer
from handoff.queue import HandoffError

TEXTS = [
    "老板拖欠工资三个月了", "你好", "谢谢", "再见", "我老公又在打我", "离婚孩子抚养权归谁", "帮我写首诗",
    "", "😀", "这个事情我该怎么办", "我想找律师帮我打官司", "对", "不是", "房东不退押金怎么办",
    "公司已经起诉我了", "网上买的东西能退吗", "asdfgh", "你是机器人吗", "帮助", "/start", "删除我的数据", "隐私",
]
PAYLOADS = ["/helpful", "/not_helpful", "/lawyer", "/cancel", "/topic:labor", "/topic:none", "/rate:4", "/comment",
            "/bogus", "/menu", "/help", "/privacy", "/language:en", "/language:zh", "/delete_my_data",
            "/delete_my_data:confirm", "/delete_my_data:cancel"]

step = st.one_of(
    st.tuples(st.just("say"), st.sampled_from(TEXTS)),
    st.tuples(st.just("press"), st.sampled_from(PAYLOADS)),
    st.tuples(st.just("kind"), st.sampled_from(["photo", "voice", "location"])),
    st.tuples(st.just("locate"), st.sampled_from(["30.27,120.15", "39.91,116.40", "95,200"])),
    st.tuples(st.just("event"), st.sampled_from(["/menu", "/unsubscribe"])),
    st.tuples(st.just("silence"), st.just("")),
    st.tuples(st.just("lawyer_claim"), st.just("")),
    st.tuples(st.just("lawyer_reply"), st.just("")),
    st.tuples(st.just("lawyer_resolve"), st.sampled_from(["resolved_by_lawyer", "referred", "emergency_referred"])),
)

counter = itertools.count()


def _lawyers(runtime: Runtime) -> list[Lawyer]:
    with runtime.store.session() as session:
        existing = list(session.exec(select(Lawyer)).all())
    if existing:
        return existing
    return [create_lawyer(runtime.store, f"lawyer{i}", "password-123", display_name=f"L{i}") for i in range(3)]


def _lawyer_act(runtime: Runtime, lawyers: list[Lawyer], action: str, arg: str, rng: random.Random) -> None:
    lawyer = rng.choice(lawyers)
    if action == "lawyer_claim":
        runtime.queue.claim_next(lawyer)
        return
    claimed = [v for v in runtime.queue.tickets() if v.ticket.status == TicketStatus.claimed]
    if not claimed:
        return
    view = rng.choice(claimed)
    owner = next(lw for lw in lawyers if lw.username == view.lawyer_username)
    assert view.ticket.id is not None
    try:
        if action == "lawyer_reply":
            runtime.queue.reply(view.ticket.id, owner, "请问您有书面证据吗？")
        else:
            runtime.queue.resolve(view.ticket.id, owner, arg, "已处理完毕")
    except HandoffError:
        pass  # e.g. the sweeper expired it meanwhile: an error for the lawyer, never a crash


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True)
@given(scripts=st.lists(st.lists(step, min_size=1, max_size=8), min_size=12, max_size=16), seed=st.integers(0, 9))
def test_after_the_sweeper_every_conversation_is_closed_with_exactly_one_outcome(
    runtime: Runtime, scripts: list[list[tuple[str, str]]], seed: int
) -> None:
    rng = random.Random(seed)
    lawyers = _lawyers(runtime)
    batch = next(counter)
    chats = [TestChat(runtime.engine, user_id=f"prop-{batch}-{i}") for i in range(len(scripts))]
    cursors = [0] * len(scripts)
    # Interleave the citizens' scripts at random, as real traffic would be.
    while any(c < len(s) for c, s in zip(cursors, scripts, strict=True)):
        i = rng.choice([k for k, (c, s) in enumerate(zip(cursors, scripts, strict=True)) if c < len(s)])
        action, arg = scripts[i][cursors[i]]
        cursors[i] += 1
        if action == "say":
            chats[i].say(arg)
        elif action == "press":
            chats[i].press(arg)
        elif action == "kind":
            chats[i].send_kind(arg)
        elif action == "locate":
            lat, lon = (float(x) for x in arg.split(","))
            chats[i].share_location(lat, lon)
        elif action == "event":
            chats[i].event(arg)
        elif action.startswith("lawyer"):
            _lawyer_act(runtime, lawyers, action, arg, rng)

    runtime.engine.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))

    valid = {o.value for o in Outcome}
    with runtime.store.session() as session:
        conversations = session.exec(select(Conversation)).all()
        tickets = session.exec(select(HandoffTicket)).all()
    assert conversations
    for conversation in conversations:
        assert conversation.status == ConversationStatus.closed, conversation
        assert conversation.outcome in valid
        assert conversation.closed_at is not None
    open_tickets = [t for t in tickets if t.status in (TicketStatus.waiting, TicketStatus.claimed)]
    assert open_tickets == []
    with runtime.store.session() as session:  # nothing stored was left unanswered
        assert session.exec(select(Message).where(Message.direction == "in", col(Message.processed_at).is_(None),
                                                  col(Message.failed).is_(False))).all() == []
