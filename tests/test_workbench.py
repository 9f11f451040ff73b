"""The lawyer's workbench (issue 17): finding tickets (search, filters, sorting, history), claim-next,
labels, corrections that feed the NLU review file, snooze, reopening, @mentions, outcome tags with a
required summary, and the citizen's rating shown on the chat and on the lawyer's own page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import AuditEntry, Conversation, HandoffTicket, Lawyer, Message, utcnow
from bot.taxonomy import ConversationStatus, Outcome, TicketStatus
from handoff.auth import create_lawyer
from handoff.queue import HandoffError
from handoff.workbench import TicketFilter, mentioned
from nlu.review import collect
from tests.conftest import new_conversation
from tests.test_console_security import PASSWORD, console, log_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

QUEUE = "/api/console/queue"


def ticket_url(ticket_id: int, tail: str = "") -> str:
    return f"/api/console/tickets/{ticket_id}" + (f"/{tail}" if tail else "")


def hand_off(runtime: Runtime, user: str, text: str) -> tuple[TestChat, int]:
    """A citizen who writes ``text`` and asks for a lawyer; returns their chat and the new ticket."""
    chat = TestChat(runtime.engine, user_id=user)
    before = {v.ticket.id for v in runtime.queue.tickets()}
    chat.say(text)
    if chat.conversation().status != ConversationStatus.waiting:
        chat.say("我要找律师")
    [new] = [v.ticket.id for v in runtime.queue.tickets() if v.ticket.id not in before]
    assert new is not None
    return chat, new


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Lawyer]:
    return {"zhang": create_lawyer(runtime.store, "zhang", PASSWORD, display_name="张律师"),
            "li": create_lawyer(runtime.store, "li", PASSWORD, display_name="李律师")}


@pytest.fixture
def client(runtime: Runtime, people: dict[str, Lawyer]) -> Iterator[TestClient]:
    with console(runtime) as c:
        assert log_in(c).status_code == 200
        yield c


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tickets"]]


def test_the_queue_is_searched_by_text_citizen_and_number_and_filtered(runtime: Runtime, client: TestClient,
                                                                       people: dict[str, Lawyer]) -> None:
    _, wages = hand_off(runtime, "wang-wu", "公司拖欠我三个月工资，我想找律师")
    _, deposit = hand_off(runtime, "zhao-liu", "房东不退三千块押金，我要找律师")
    assert set(ids(client.get(QUEUE))) == {wages, deposit}
    assert ids(client.get(QUEUE, params={"q": "押金"})) == [deposit]
    assert ids(client.get(QUEUE, params={"q": f"#{wages}"})) == [wages]
    assert ids(client.get(QUEUE, params={"q": "zhao-liu"})) == [deposit]  # the citizen's channel id
    assert ids(client.get(QUEUE, params={"q": "100%"})) == []  # LIKE wildcards are only characters
    runtime.queue.claim(wages, people["zhang"])
    assert ids(client.get(QUEUE, params={"assignee": "me"})) == [wages]
    assert ids(client.get(QUEUE, params={"assignee": "none"})) == [deposit]
    assert ids(client.get(QUEUE, params={"status": "claimed"})) == [wages]
    assert ids(client.get(QUEUE, params={"channel": "testing", "sort": "newest"})) == [deposit, wages]
    assert ids(client.get(QUEUE, params={"sort": "oldest"})) == [wages, deposit]
    bad = client.get(QUEUE, params={"topic": "astrology"})
    assert bad.status_code == 422 and "topic" in bad.json()["detail"]
    summary = {t["id"]: t["summary"] for t in client.get(QUEUE).json()["tickets"]}
    assert "押金" in summary[deposit]


def test_a_ticket_is_summarised_by_what_it_is_about_not_by_a_greeting(runtime: Runtime) -> None:
    chat = TestChat(runtime.engine, user_id="greeter")
    chat.say("你好")
    chat.say("在吗？")
    chat.say("我被公司辞退了，没有给任何补偿，想找律师")
    if chat.conversation().status != ConversationStatus.waiting:
        chat.say("我要找律师")
    [view] = runtime.queue.tickets()
    assert "辞退" in view.public()["summary"]


def test_claim_next_follows_the_routing_rules_and_says_when_the_queue_is_empty(
        runtime: Runtime, client: TestClient) -> None:
    _, first = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    _, urgent = hand_off(runtime, "b", "我老公又在打我，说要杀了我")
    taken = client.post(f"{QUEUE}/claim-next")
    assert taken.status_code == 200 and taken.json()["id"] == urgent  # danger first, though it came later
    assert client.post(f"{QUEUE}/claim-next").json()["id"] == first
    empty = client.post(f"{QUEUE}/claim-next")
    assert empty.status_code == 404 and "没有" in empty.json()["detail"]


def test_labels_are_kept_filtered_and_refused_when_too_long(runtime: Runtime, client: TestClient) -> None:
    _, ticket = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    _, other = hand_off(runtime, "b", "邻居占了我家的地，我要找律师")
    put = client.put(ticket_url(ticket, "labels"), json={"labels": [" 需回访 ", "农民工", "需回访"]})
    assert put.status_code == 200 and put.json()["labels"] == ["需回访", "农民工"]
    assert ids(client.get(QUEUE, params={"label": "农民工"})) == [ticket]
    assert ids(client.get(QUEUE, params={"label": "农民"})) == []  # a whole label, not a part of one
    assert "农民工" in client.get("/api/console/workbench").json()["labels"]
    too_long = client.put(ticket_url(other, "labels"), json={"labels": ["很" * 21]})
    assert too_long.status_code == 422 and "太长" in too_long.json()["detail"]
    assert client.put(ticket_url(999_999, "labels"), json={"labels": ["x"]}).status_code == 422


def test_a_lawyers_correction_changes_the_counts_and_feeds_the_review_file(
        runtime: Runtime, client: TestClient) -> None:
    _, ticket = hand_off(runtime, "a", "我在工地上摔断了腿，包工头不管，我要找律师")
    with runtime.store.session() as session:
        was = session.get(HandoffTicket, ticket)
        assert was is not None
        before = was.topic
    target = "construction" if before != "construction" else "tort"
    fixed = client.post(ticket_url(ticket, "classify"), json={"topic": target})
    assert fixed.status_code == 200 and fixed.json()["topic"] == target
    with runtime.store.session() as session:
        tk = session.get(HandoffTicket, ticket)
        assert tk is not None
        conversation = session.get(Conversation, tk.conversation_id)
        assert conversation is not None and conversation.topic == target  # the reports count the right area
    items = [i for i in collect(runtime.store) if "lawyer_corrected" in i["why"]]
    assert items and items[0]["label"] == f"topic_{target}" and "摔断了腿" in items[0]["text"]
    assert items[0]["predicted"]["topic"] == before
    bad = client.post(ticket_url(ticket, "classify"), json={"topic": "astrology"})
    assert bad.status_code == 422


def test_snooze_sinks_a_chat_and_it_comes_back_as_a_reminder(runtime: Runtime, client: TestClient,
                                                             people: dict[str, Lawyer]) -> None:
    _, first = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    _, second = hand_off(runtime, "b", "房东不退押金，我要找律师")
    for ticket in (first, second):
        runtime.queue.claim(ticket, people["zhang"])
    snoozed = client.post(ticket_url(first, "snooze"), json={"minutes": 30})
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] and not snoozed.json()["snooze_due"]
    assert ids(client.get(QUEUE)) == [second, first]  # put aside: below the others
    with runtime.store.session() as session:  # half an hour later
        tk = session.get(HandoffTicket, first)
        assert tk is not None
        tk.snoozed_until = utcnow() - dt.timedelta(seconds=1)
        session.add(tk)
        session.commit()
    rows = {t["id"]: t for t in client.get(QUEUE).json()["tickets"]}
    assert rows[first]["snooze_due"] and ids(client.get(QUEUE))[0] == first
    runtime.queue.reply(first, people["zhang"], "您好，我们继续。")
    assert client.get(QUEUE).json()["tickets"][0]["snoozed_until"] is None  # answering ends the reminder
    other = client.post(ticket_url(second, "snooze"), json={"minutes": 60 * 24 * 31})
    assert other.status_code == 422
    with pytest.raises(HandoffError):
        runtime.queue.snooze(second, people["li"], utcnow() + dt.timedelta(minutes=5))  # not li's chat


def test_mentions_tell_a_colleague_until_they_open_the_ticket(runtime: Runtime, client: TestClient,
                                                              people: dict[str, Lawyer]) -> None:
    assert mentioned("请 @li 看一下，邮箱 a@b.com 不算") == ["li"]
    _, ticket = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    note = client.post(ticket_url(ticket, "notes"), json={"text": "@li 这个工伤认定你熟，帮忙看看"})
    assert note.status_code == 200
    unknown = client.post(ticket_url(ticket, "notes"), json={"text": "@nobody 看看"})
    assert unknown.status_code == 409 and "nobody" in unknown.json()["detail"]
    with console(runtime) as li:
        assert log_in(li, "li").status_code == 200
        [m] = li.get("/api/console/mentions").json()["mentions"]
        assert m["ticket_id"] == ticket and m["author"] == "张律师" and "工伤" in m["text"]
        assert li.get(ticket_url(ticket)).status_code == 200
        assert li.get("/api/console/mentions").json()["mentions"] == []
    assert client.get("/api/console/mentions").json()["mentions"] == []  # the author is not told of their own note
    with runtime.store.session() as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "note")).first()
        assert entry is not None and entry.detail["mentions"] == ["li"]


def test_resolving_needs_a_summary_and_takes_outcome_tags(runtime: Runtime, client: TestClient) -> None:
    _, ticket = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    assert client.post(ticket_url(ticket, "claim")).status_code == 200
    no_summary = client.post(ticket_url(ticket, "resolve"), json={"outcome": "resolved_by_lawyer", "summary": " "})
    assert no_summary.status_code == 422 and "摘要" in no_summary.json()["detail"]
    bad_tag = client.post(ticket_url(ticket, "resolve"),
                          json={"outcome": "resolved_by_lawyer", "summary": "建议申请劳动仲裁", "tags": ["made_up"]})
    assert bad_tag.status_code == 409 and "made_up" in bad_tag.json()["detail"]
    done = client.post(ticket_url(ticket, "resolve"), json={
        "outcome": "resolved_by_lawyer", "summary": "建议申请劳动仲裁", "tags": ["guided_to_arbitration", "needs_follow_up"]})
    assert done.status_code == 200 and done.json()["tags"] == ["guided_to_arbitration", "needs_follow_up"]
    assert ids(client.get(QUEUE, params={"status": "closed", "tag": "needs_follow_up"})) == [ticket]
    assert ids(client.get(QUEUE)) == []  # ended chats leave the queue, not the history


def test_history_shows_the_rating_and_a_lawyer_reopens_an_ended_chat(runtime: Runtime, client: TestClient,
                                                                   people: dict[str, Lawyer]) -> None:
    chat, ticket = hand_off(runtime, "a", "公司拖欠工资两个月了，我要找律师")
    zhang = people["zhang"]
    runtime.queue.claim(ticket, zhang)
    runtime.queue.resolve(ticket, zhang, "resolved_by_lawyer", "建议申请劳动仲裁")
    ended = chat.conversation().id
    chat.press("/rate:4")
    chat.press("/comment")
    chat.say("很耐心")
    [row] = client.get(QUEUE, params={"status": "resolved", "q": "工资"}).json()["tickets"]
    assert row["id"] == ticket and row["rating"]["stars"] == 4 and row["closing_summary"] == "建议申请劳动仲裁"
    detail = client.get(ticket_url(ticket)).json()["ticket"]
    assert detail["rating"] == {**detail["rating"], "stars": 4, "comment": "很耐心"}
    page = client.get("/api/console/me/page").json()
    assert page["resolved"] == 1 and page["average"] == 4 and page["tickets"][0]["rating"]["stars"] == 4

    again = client.post(ticket_url(ticket, "reopen"))
    assert again.status_code == 200, again.text
    new = again.json()
    assert new["reopened_from"] == ticket and new["status"] == TicketStatus.claimed and new["lawyer"] == "zhang"
    packet = client.get(ticket_url(new["id"])).json()["packet"]
    assert packet["reason"] == "reopened" and packet["previous_summary"] == "建议申请劳动仲裁"
    assert ended in [c["conversation_id"] for c in packet["earlier"]]  # the ended chat, with its outcome
    with runtime.store.session() as session:
        old_conversation = session.get(Conversation, ended)
        assert old_conversation is not None and old_conversation.outcome == Outcome.resolved_by_lawyer  # still counted
    chat.say("我又收到公司的通知了")
    assert chat.last.messages == []  # it goes to the lawyer
    current = chat.conversation()
    assert current.id != ended and current.status == ConversationStatus.with_lawyer
    with runtime.store.session() as session:
        told = session.exec(select(Message).where(Message.conversation_id == current.id,
                                                  Message.sender == "system")).all()
    assert any("张律师" in m.text for m in told)  # the citizen is told who took the chat up again
    twice = client.post(ticket_url(ticket, "reopen"))
    assert twice.status_code == 409 and "进行中" in twice.json()["detail"]
    assert client.post(ticket_url(new["id"], "reopen")).status_code == 409  # not ended


def test_filters_in_the_queue_model(runtime: Runtime, people: dict[str, Lawyer]) -> None:
    """The same filters without the web layer: a wrong sort is refused, a limit is kept in bounds."""
    with pytest.raises(ValueError):
        runtime.queue.find(TicketFilter(sort="random"), people["zhang"])
    views, total = runtime.queue.find(TicketFilter(limit=10_000), people["zhang"])
    assert views == [] and total == 0


def test_a_citizen_takes_the_same_matter_up_again_within_the_window(runtime: Runtime,
                                                                     people: dict[str, Lawyer]) -> None:
    chat, ticket = hand_off(runtime, "back-again", "公司拖欠工资两个月了，我要找律师")
    zhang = people["zhang"]
    runtime.queue.claim(ticket, zhang)
    runtime.queue.resolve(ticket, zhang, "resolved_by_lawyer", "建议申请劳动仲裁")
    with runtime.store.session() as session:
        closing = session.exec(select(Message).where(Message.sender == "system").order_by(col(Message.id).desc())).first()
    assert closing is not None and f"/reopen:{ticket}" in [b["payload"] for b in closing.buttons]
    other = TestChat(runtime.engine, user_id="someone-else")
    other.press(f"/reopen:{ticket}")  # not their matter: nothing is opened
    assert [v.ticket.id for v in runtime.queue.tickets()] == []

    chat.press(f"/reopen:{ticket}")
    [view] = runtime.queue.tickets()
    assert view.ticket.reopened_from == ticket and view.ticket.reason == "reopened"
    with runtime.store.session() as session:
        old = session.get(HandoffTicket, ticket)
        assert old is not None
    assert view.ticket.packet["previous_summary"] == "建议申请劳动仲裁" and view.ticket.topic == old.topic
    assert chat.conversation().status == ConversationStatus.waiting
    chat.press(f"/reopen:{ticket}")  # pressed twice: still one ticket
    assert len(runtime.queue.tickets()) == 1


def test_the_lawyer_who_had_the_matter_gets_the_citizen_back_first(runtime: Runtime,
                                                                    people: dict[str, Lawyer]) -> None:
    _, first = hand_off(runtime, "first-citizen", "房东不退押金，我要找律师")
    chat, ticket = hand_off(runtime, "returning", "公司拖欠工资两个月了，我要找律师")
    zhang, li = people["zhang"], people["li"]
    runtime.queue.claim(ticket, li)
    runtime.queue.resolve(ticket, li, "resolved_by_lawyer", "建议申请劳动仲裁")
    chat.press(f"/reopen:{ticket}")
    back = runtime.queue.claim_next(li)
    assert back is not None and back.ticket.reopened_from == ticket  # before the chat that waited longer
    taken = runtime.queue.claim_next(zhang)
    assert taken is not None and taken.ticket.id == first


def test_after_the_window_the_citizen_starts_afresh(runtime: Runtime, people: dict[str, Lawyer]) -> None:
    chat, ticket = hand_off(runtime, "too-late", "公司拖欠工资两个月了，我要找律师")
    runtime.queue.claim(ticket, people["zhang"])
    runtime.queue.resolve(ticket, people["zhang"], "resolved_by_lawyer", "建议申请劳动仲裁")
    with runtime.store.session() as session:
        tk = session.get(HandoffTicket, ticket)
        assert tk is not None
        tk.resolved_at = utcnow() - dt.timedelta(days=runtime.settings.reopen_window_days + 1)
        session.add(tk)
        session.commit()
    chat.press(f"/reopen:{ticket}")
    assert "不能再接着办理" in chat.last_text and "/lawyer" in chat.button_payloads()
    assert runtime.queue.tickets() == []


def test_among_urgent_chats_someone_being_hurt_goes_first(runtime: Runtime, people: dict[str, Lawyer]) -> None:
    """A deadline tomorrow is urgent, but a woman being beaten now is taken first, though she wrote later."""
    from handoff.queue import enqueue

    made: list[int] = []
    with runtime.store.session() as session:
        for n, reasons in enumerate((["imminent_deadline"], ["domestic_violence"], [])):
            conversation = new_conversation(session, f"urgent-{n}")
            ticket = enqueue(session, conversation, urgent=bool(reasons), reason="urgent" if reasons else "complex",
                             packet={"urgent_reasons": reasons})
            made.append(ticket.id or 0)
        session.commit()
    deadline, beaten, ordinary = made
    assert [v.ticket.id for v in runtime.queue.tickets()] == [beaten, deadline, ordinary]
    rows = {v.ticket.id: v.public() for v in runtime.queue.tickets()}
    assert rows[beaten]["in_danger"] and not rows[deadline]["in_danger"]
    assert rows[beaten]["urgent_reasons"] == ["domestic_violence"]
    first = runtime.queue.claim_next(people["zhang"])
    assert first is not None and first.ticket.id == beaten
