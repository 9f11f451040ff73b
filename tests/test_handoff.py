"""The lawyers' queue: exactly-once claims under concurrency, routing, presence, SLA timers, notes, audit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from bot.store import AuditEntry, HandoffTicket, Lawyer, utcnow
from bot.taxonomy import ConversationStatus, Priority, TicketStatus
from handoff.auth import create_lawyer
from handoff.queue import HandoffError, HandoffQueue, position
from tests.conftest import new_conversation


def make_tickets(runtime: Runtime, n: int, topic: str = "labor", language: str = "zh",
                 priority: str = Priority.normal) -> list[int]:
    ids = []
    with runtime.store.session() as session:
        for i in range(n):
            conversation = new_conversation(session, f"c-{topic}-{language}-{priority}-{i}-{utcnow().timestamp()}",
                                            language=language, status=ConversationStatus.waiting, topic=topic)
            ticket = HandoffTicket(conversation_id=conversation.id or 0, topic=topic, language=language,
                                   priority=priority, packet={})
            session.add(ticket)
            session.flush()
            ids.append(ticket.id or 0)
        session.commit()
    return ids


def lawyers(runtime: Runtime, n: int, **kwargs: object) -> list[Lawyer]:
    return [create_lawyer(runtime.store, f"lawyer{i}", "password-123", **kwargs) for i in range(n)]  # type: ignore[arg-type]


def claim_concurrently(runtime: Runtime, claimers: list[Lawyer]) -> list[int]:
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(lawyer: Lawyer) -> None:
        queue = HandoffQueue(runtime.store)
        try:
            while (view := queue.claim_next(lawyer)) is not None:
                with lock:
                    claimed.append(view.ticket.id or 0)
        except BaseException as exc:  # surfaced below: a crash in a claimer must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(lw,)) for lw in claimers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    return claimed


@pytest.mark.postgres
def test_32_claimers_take_1000_tickets_each_exactly_once_on_postgresql(pg_url: str, built_dir) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime
    from bot.settings import Settings

    runtime = build_runtime(Settings(data_dir=built_dir, database_url=pg_url))
    try:
        ids = make_tickets(runtime, 1000)
        claimed = claim_concurrently(runtime, lawyers(runtime, 32))
        assert sorted(claimed) == sorted(ids)  # none lost, none twice
        with runtime.store.session() as session:
            tickets = session.exec(select(HandoffTicket)).all()
        assert all(t.status == TicketStatus.claimed and t.lawyer_id for t in tickets)
        assert len({t.lawyer_id for t in tickets}) > 1
    finally:
        runtime.store.dispose()


def test_concurrent_claimers_on_sqlite_never_share_a_ticket(tmp_path, built_dir) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime
    from bot.settings import Settings

    runtime = build_runtime(Settings(data_dir=built_dir, database_url=f"sqlite:///{tmp_path / 'q.db'}"))
    ids = make_tickets(runtime, 150)
    claimed = claim_concurrently(runtime, lawyers(runtime, 6))
    assert sorted(claimed) == sorted(ids)
    runtime.store.dispose()


def test_routing_prefers_urgent_then_language_then_specialty(runtime: Runtime) -> None:
    [labor] = make_tickets(runtime, 1, topic="labor")
    [family] = make_tickets(runtime, 1, topic="marriage_family")
    [english] = make_tickets(runtime, 1, topic="labor", language="en")
    [urgent] = make_tickets(runtime, 1, topic="debt", priority=Priority.urgent)
    family_lawyer = create_lawyer(runtime.store, "fam", "password-123", topics=["marriage_family"])
    order = [runtime.queue.claim_next(family_lawyer).ticket.id for _ in range(4)]  # type: ignore[union-attr]
    assert order == [urgent, family, labor, english]


def test_claims_of_a_lawyer_who_went_offline_return_to_the_queue(runtime: Runtime) -> None:
    [ticket_id] = make_tickets(runtime, 1)
    [lawyer] = lawyers(runtime, 1)
    runtime.queue.touch(lawyer)
    runtime.queue.claim(ticket_id, lawyer)
    assert runtime.queue.release_stale_claims(dt.timedelta(minutes=10)) == []
    later = utcnow() + dt.timedelta(minutes=11)
    assert runtime.queue.release_stale_claims(dt.timedelta(minutes=10), now=later) == [ticket_id]
    with runtime.store.session() as session:
        ticket = session.get(HandoffTicket, ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.waiting and ticket.lawyer_id is None


def test_sla_timers_escalate_and_remind_and_survive_a_restart(runtime: Runtime) -> None:
    [waiting_id, claimed_id] = make_tickets(runtime, 2)
    [lawyer] = lawyers(runtime, 1)
    runtime.queue.claim(claimed_id, lawyer)
    soon = utcnow() + dt.timedelta(minutes=5)
    assert runtime.queue.sla_pass(dt.timedelta(minutes=15), dt.timedelta(minutes=10), now=soon) == {
        "escalated": [], "reminded": []}
    restarted = HandoffQueue(runtime.store)  # a new process knows only the database
    later = utcnow() + dt.timedelta(minutes=20)
    result = restarted.sla_pass(dt.timedelta(minutes=15), dt.timedelta(minutes=10), now=later)
    assert result == {"escalated": [waiting_id], "reminded": [claimed_id]}
    assert restarted.sla_pass(dt.timedelta(minutes=15), dt.timedelta(minutes=10), now=later) == {
        "escalated": [], "reminded": []}  # once each
    with runtime.store.session() as session:
        assert session.get(HandoffTicket, waiting_id).priority == Priority.overdue  # type: ignore[union-attr]


def test_waiting_long_raises_a_chat_above_ordinary_ones_but_never_above_danger(runtime: Runtime) -> None:
    [old_wage, fresh] = make_tickets(runtime, 2, topic="labor")
    later = utcnow() + dt.timedelta(minutes=20)
    assert runtime.queue.sla_pass(dt.timedelta(minutes=15), dt.timedelta(minutes=10), now=later)["escalated"] == [
        old_wage, fresh]
    [newer] = make_tickets(runtime, 1, topic="labor")
    [danger] = make_tickets(runtime, 1, topic="marriage_family", priority=Priority.urgent)  # arrives last
    with runtime.store.session() as session:
        positions = {tid: position(session, session.get(HandoffTicket, tid))  # type: ignore[arg-type]
                     for tid in (danger, old_wage, fresh, newer)}
    assert positions == {danger: 0, old_wage: 1, fresh: 2, newer: 3}
    [lawyer] = lawyers(runtime, 1)
    order = [runtime.queue.claim_next(lawyer).ticket.id for _ in range(4)]  # type: ignore[union-attr]
    assert order == [danger, old_wage, fresh, newer]


def test_notes_transfer_and_audit(runtime: Runtime) -> None:
    [ticket_id] = make_tickets(runtime, 1)
    zhang, li = lawyers(runtime, 2)
    runtime.queue.claim(ticket_id, zhang)
    runtime.queue.add_note(ticket_id, zhang, "当事人情绪激动，注意安抚")
    with pytest.raises(HandoffError):
        runtime.queue.add_note(ticket_id, zhang, "  ")
    view = runtime.queue.transfer(ticket_id, zhang, li.username)
    assert view.lawyer_username == li.username
    with pytest.raises(HandoffError):
        runtime.queue.reply(ticket_id, zhang, "我还能回复吗")
    runtime.queue.reply(ticket_id, li, "您好，我接手了")
    runtime.queue.transfer(ticket_id, li, None)
    [(note, author)] = runtime.queue.notes(ticket_id)
    assert note.text.startswith("当事人") and author == zhang.display_name
    actions = [entry.action for entry, _ in runtime.queue.audit_log()]
    assert actions[::-1] == ["claim", "note", "transfer", "reply", "transfer"]
    with runtime.store.session() as session:
        assert session.exec(select(AuditEntry)).all()


def claimed_after(runtime: Runtime, minutes: list[int], at: dt.datetime) -> None:
    """Tickets that entered the queue at ``at`` and were claimed that many minutes later."""
    ids = make_tickets(runtime, len(minutes))
    with runtime.store.session() as session:
        for ticket_id, m in zip(ids, minutes, strict=True):
            ticket = session.get(HandoffTicket, ticket_id)
            assert ticket is not None
            ticket.created_at = at.astimezone(dt.UTC)
            ticket.claimed_at = ticket.created_at + dt.timedelta(minutes=m)
            ticket.status = TicketStatus.claimed
            session.add(ticket)
        session.commit()


def test_the_wait_is_a_range_from_measured_claim_times_and_grows_with_the_queue(runtime: Runtime) -> None:
    from zoneinfo import ZoneInfo

    from handoff import waiting

    settings = runtime.settings.model_copy(update={"service_hours": "09:00-18:00", "service_days": "1,2,3,4,5"})
    now = dt.datetime.now(ZoneInfo(settings.timezone)).replace(hour=10, minute=0)
    while now.isoweekday() > 5:
        now -= dt.timedelta(days=1)
    claimed_after(runtime, [2, 4, 6, 8, 10, 12, 14, 16], now - dt.timedelta(hours=1))  # the same hour of day, ±1
    claimed_after(runtime, [90] * 8, now - dt.timedelta(hours=5))  # another hour: not used
    with runtime.store.session() as session:
        first = waiting.estimate(session, settings, 0, now)
        fifth = waiting.estimate(session, settings, 4, now)
    # nearest-rank quartiles of 2..16 are 4 and 12 minutes a place
    assert (first.low, first.high) == (4, 12) and (fifth.low, fifth.high) == (20, 60)


def test_off_duty_and_past_closing_say_when_lawyers_are_back(runtime: Runtime) -> None:
    from zoneinfo import ZoneInfo

    from handoff import waiting

    settings = runtime.settings.model_copy(update={"service_hours": "09:00-18:00", "service_days": "1,2,3,4,5"})
    tz = ZoneInfo(settings.timezone)
    friday_evening = dt.datetime(2026, 12, 4, 20, 0, tzinfo=tz)
    with runtime.store.session() as session:
        off = waiting.estimate(session, settings, 2, friday_evening)
        late = waiting.estimate(session, settings, 30, dt.datetime(2026, 12, 3, 17, 30, tzinfo=tz))  # a Thursday
    assert not off.on_duty and off.back_at == dt.datetime(2026, 12, 7, 9, 0, tzinfo=tz)
    assert waiting.when(off.back_at, friday_evening, "zh") == "周一 09:00"
    assert late.on_duty and late.low is None and late.back_at == dt.datetime(2026, 12, 4, 9, 0, tzinfo=tz)
    never = settings.model_copy(update={"service_days": ""})
    with runtime.store.session() as session:
        assert waiting.estimate(session, never, 0, friday_evening) == waiting.Wait(on_duty=False)


def test_a_wechat_ticket_carries_its_reply_window(runtime: Runtime) -> None:
    import bot.channels.wechat  # noqa: F401  (registers WeChat's reply window)
    from bot.engine import Incoming

    runtime.engine.handle(Incoming(channel="wechat", user_id="openid-1", payload="/lawyer"))
    runtime.engine.handle(Incoming(channel="web", user_id="web-client-1", payload="/lawyer"))
    views = {v.channel: v for v in runtime.queue.tickets()}
    wechat, _ = runtime.queue.view(views["wechat"].ticket.id or 0)
    web, _ = runtime.queue.view(views["web"].ticket.id or 0)
    assert web.public()["reply_window"] is None
    window = wechat.public()["reply_window"]
    assert window is not None and window["remaining"] > 0
    assert dt.datetime.fromisoformat(window["expires_at"]) > utcnow() + dt.timedelta(hours=47)
