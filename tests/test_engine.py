"""The conversation core, driven like a citizen would, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.channels.testing import TestChat
from bot.engine import SUGGESTED
from bot.replies import t
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.store import Feedback, HandoffTicket, Message
from bot.taxonomy import ConversationStatus, Outcome, Priority, TicketStatus
from handoff.auth import create_lawyer
from handoff.queue import AlreadyClaimed, HandoffError
from nlu.text import is_chinese


def messages_of(runtime: Runtime, conversation_id: int) -> list[Message]:
    with runtime.store.session() as session:
        return list(session.exec(select(Message).where(Message.conversation_id == conversation_id)
                                 .order_by(Message.id)).all())  # type: ignore[arg-type]


def test_first_contact_shows_disclaimer_and_privacy_notice_once(chat: TestChat) -> None:
    chat.say("你好")
    first = chat.last.messages[0]
    assert first.sender == "system"
    assert "不是律师" in first.text and "110" in first.text and "隐私" in first.text
    chat.say("你好")
    assert all("隐私" not in m.text for m in chat.last.messages)


def test_unpaid_wages_are_answered_from_the_labour_entry_with_its_legal_basis(chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    answer = chat.last.messages[-1]
    assert answer.decision and answer.decision["faq_id"].startswith("labor-")
    assert "法律依据" in answer.text and "劳动" in answer.text
    assert chat.button_payloads()[:3] == ["/helpful", "/not_helpful", "/lawyer"]
    assert all(p.startswith("/faq:") for p in chat.button_payloads()[3:])  # related questions
    chat.press("/helpful")
    chat.say("再见")
    conversation = chat.conversation()
    assert conversation.status == ConversationStatus.closed
    assert conversation.outcome == Outcome.answered


def test_incoming_message_is_stored_with_its_decision(runtime: Runtime, chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    stored = chat.last.incoming
    assert stored.id is not None and stored.direction == "in"
    assert stored.decision is not None
    assert stored.decision["topic"] == "labor" and stored.decision["action"] == "answer"


def test_urgent_message_puts_emergency_numbers_first_and_queues_a_priority_handoff(
    runtime: Runtime, chat: TestChat
) -> None:
    chat.say("我老公又在打我，说要杀了我")
    first, *rest = chat.last.messages
    assert "110" in first.text.splitlines()[0] and "12338" in first.text.splitlines()[0]  # above the notice
    assert any(m.sender == "system" for m in rest)  # the first-contact notice follows
    assert not any("前面" in m.text for m in chat.last.messages)  # never told that others are ahead
    conversation = chat.conversation()
    assert conversation.status == ConversationStatus.waiting and conversation.urgent
    with runtime.store.session() as session:
        ticket = session.exec(select(HandoffTicket)).one()
    assert ticket.priority == Priority.urgent and ticket.status == TicketStatus.waiting
    assert ticket.packet["urgent"] is True


def test_not_urgent_questions_about_divorce_cooling_off(runtime: Runtime, chat: TestChat) -> None:
    chat.say("离婚冷静期多久")  # "离婚" is no emergency: answered from the family entries, no handoff
    decision = chat.last.incoming.decision
    assert decision is not None and decision["urgent"] is False
    conversation = chat.conversation()
    assert not conversation.urgent and conversation.status == ConversationStatus.bot
    answer = chat.last.messages[-1]
    assert answer.decision and answer.decision["action"] == "answer"
    assert answer.decision["faq_id"].startswith("marriage_family-")
    assert runtime.queue.tickets() == []


def test_vague_question_asks_once_with_categories_then_hands_off_when_none_fits(
    runtime: Runtime, chat: TestChat
) -> None:
    chat.say("这个事情我该怎么办啊")  # no legal point at all: the area is asked, nothing is guessed
    assert chat.conversation().status == ConversationStatus.clarifying
    payloads = chat.button_payloads()
    assert any(p.startswith("/topic:") for p in payloads) and "/lawyer" in payloads
    assert not any(p.startswith(SUGGESTED) for p in payloads)
    chat.press("/topic:none")
    assert not any(p.startswith("/topic:") for p in chat.button_payloads())  # no second round of categories
    assert chat.conversation().status == ConversationStatus.waiting
    [view] = runtime.queue.tickets()
    assert view.ticket.reason == "unclear_after_clarifying"


def test_vague_question_then_an_area_asks_for_the_details(runtime: Runtime, chat: TestChat) -> None:
    chat.say("我想咨询个事")
    chat.press("/topic:labor")
    assert [m.text for m in chat.last.messages] == [t("affirm", "zh")]
    assert runtime.queue.tickets() == []


@pytest.fixture
def unsure_runtime(settings: Settings) -> Iterator[Runtime]:
    """Never sure enough to answer on its own: every legal question gets "did you mean" questions."""
    rt = build_runtime(settings.model_copy(update={"kb_answer_threshold": 5.0, "kb_suggest_threshold": 0.0}))
    yield rt
    rt.store.dispose()


def test_unsure_offers_questions_and_answers_the_one_picked(unsure_runtime: Runtime) -> None:
    chat = TestChat(unsure_runtime.engine, user_id="citizen-suggest")
    chat.say("老板拖欠工资三个月了怎么办")
    offer = chat.last.messages[-1]
    assert offer.text == t("suggest", "zh") and offer.decision and offer.decision["action"] == "suggest"
    picks = [b["payload"] for b in offer.buttons if b["payload"].startswith(SUGGESTED)
             and b["payload"] not in (SUGGESTED + "none", SUGGESTED + "more")]
    assert 1 <= len(picks) <= 3 and picks == [SUGGESTED + i for i in offer.decision["suggestions"]]
    assert SUGGESTED + "more" in chat.button_payloads() and "/lawyer" in chat.button_payloads()
    assert chat.conversation().status == ConversationStatus.clarifying
    chosen = offer.decision["suggestions"][-1]
    entry = unsure_runtime.kb.get(chosen)
    assert entry is not None
    chat.press(SUGGESTED + chosen)
    assert chat.last.incoming.text == entry.question  # the transcript shows the question, not the payload
    answer = chat.last.messages[-1]
    assert answer.decision == {"action": "answer", "faq_id": chosen, "score": 1.0}
    assert answer.text.startswith(entry.answer)
    conversation = chat.conversation()
    assert conversation.status == ConversationStatus.bot and conversation.pending_outcome == "answered"
    assert conversation.topic == entry.topic.value and unsure_runtime.queue.tickets() == []


def test_none_of_these_shows_the_next_questions_once_then_goes_to_a_lawyer(unsure_runtime: Runtime) -> None:
    chat = TestChat(unsure_runtime.engine, user_id="citizen-more")
    chat.say("老板拖欠工资三个月了怎么办")
    first = chat.last.messages[-1].decision["suggestions"]  # type: ignore[index]
    assert SUGGESTED + "more" in chat.button_payloads() and SUGGESTED + "none" not in chat.button_payloads()
    chat.press(SUGGESTED + "more")
    assert chat.last.incoming.text == t("btn_more", "zh")
    offer = chat.last.messages[-1]
    assert offer.text == t("suggest_more", "zh") and offer.decision
    assert offer.decision["suggestions"] and not set(offer.decision["suggestions"]) & set(first)
    assert SUGGESTED + "none" in chat.button_payloads() and SUGGESTED + "more" not in chat.button_payloads()
    assert unsure_runtime.queue.tickets() == []
    chat.press(SUGGESTED + "none")
    assert t("handoff_none_fit", "zh") in [m.text for m in chat.last.messages]
    [view] = unsure_runtime.queue.tickets()
    assert view.ticket.reason == "none_fit"


def test_none_of_the_offered_questions_goes_to_a_lawyer(unsure_runtime: Runtime) -> None:
    chat = TestChat(unsure_runtime.engine, user_id="citizen-none-fit")
    chat.say("老板拖欠工资三个月了怎么办")
    chat.press(SUGGESTED + "none")
    assert t("handoff_none_fit", "zh") in [m.text for m in chat.last.messages]
    assert chat.conversation().status == ConversationStatus.waiting
    [view] = unsure_runtime.queue.tickets()
    assert view.ticket.reason == "none_fit"


def test_a_stale_offered_question_is_explained(unsure_runtime: Runtime) -> None:
    chat = TestChat(unsure_runtime.engine, user_id="citizen-stale")
    chat.say("老板拖欠工资三个月了怎么办")
    chat.press(SUGGESTED + "no-such-entry")
    assert [m.text for m in chat.last.messages] == [t("suggestion_gone", "zh")]
    assert unsure_runtime.queue.tickets() == []


def test_a_pressed_button_is_stored_as_its_label_and_keeps_its_payload(runtime: Runtime, chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    chat.press("/lawyer")
    pressed = chat.last.incoming
    assert (pressed.kind, pressed.text, pressed.decision) == ("button", "转接律师", {"payload": "/lawyer"})
    assert chat.conversation().status == ConversationStatus.waiting  # the payload still routes the press
    # ... and the lawyer reads the label in the console, never "/lawyer"
    [view] = runtime.queue.tickets()
    _, transcript = runtime.queue.view(view.ticket.id or 0)
    assert "/lawyer" not in [m.text for m in transcript]


@pytest.mark.parametrize(
    ("payload", "lang", "label"),
    [
        ("/topic:labor", "zh", "劳动争议"),
        ("/topic:labor", "en", "Labour disputes"),
        ("/topic:none", "zh", "都不是"),
        ("/helpful", "en", "Helpful"),
        ("/not_helpful", "zh", "没帮助"),
        ("/rate:5", "zh", "★★★★★"),
        ("/menu", "zh", "菜单"),
        ("/topic:spaceships", "zh", "/topic:spaceships"),  # unknown payloads are kept as they came
        ("/no-such-button", "en", "/no-such-button"),
    ],
)
def test_pressed_labels_are_in_the_citizens_language(runtime: Runtime, payload: str, lang: str, label: str) -> None:
    chat = TestChat(runtime.engine, user_id=f"press-{lang}", language=lang)
    chat.press(payload)
    pressed = chat.last.incoming
    assert (pressed.kind, pressed.text, pressed.decision) == ("button", label, {"payload": payload})


def test_button_presses_stay_out_of_the_handoff_packet(runtime: Runtime, chat: TestChat) -> None:
    chat.press("/menu")
    chat.press("/topic:labor")
    chat.say("老板拖欠工资三个月了，一共8000元")
    chat.press("/lawyer")
    [view] = runtime.queue.tickets()
    assert view.ticket.packet["first_message"] == "老板拖欠工资三个月了，一共8000元"
    assert view.ticket.packet["facts"]["amounts"] == ["8000元"]


def test_processing_failure_keeps_the_message_and_apologises(
    runtime: Runtime, chat: TestChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat.say("你好")

    def broken(text: str) -> None:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(runtime.engine.classifier, "classify", broken)
    chat.say("房东不退押金怎么办")
    assert "抱歉" in chat.last_text
    stored = messages_of(runtime, chat.last.conversation_id)
    failed = [m for m in stored if m.direction == "in" and m.text == "房东不退押金怎么办"]
    assert len(failed) == 1 and failed[0].failed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "没有输入"),
        ("   \n\t  ", "没有输入"),
        ("😀😀😀🙏", "没有输入"),
        ("\x00\x07\x1b[31m", "没有输入"),
    ],
)
def test_input_without_words_gets_a_clear_reply_and_is_stored(
    runtime: Runtime, chat: TestChat, text: str, expected: str
) -> None:
    chat.say(text)
    assert expected in chat.last_text
    assert chat.last.incoming.text == text.replace("\x00", "\ufffd")


def test_very_long_message_is_stored_whole_and_answered(runtime: Runtime, chat: TestChat) -> None:
    text = "老板拖欠工资三个月了。" + "我每天都在加班，" * 2500
    assert len(text) >= 20_000
    chat.say(text[:20_000])
    assert len(chat.last.incoming.text) == 20_000
    assert "很长" in chat.last_text


def test_html_is_stored_verbatim_and_never_interpreted(chat: TestChat) -> None:
    chat.say("<script>alert(1)</script>工资被拖欠")
    assert chat.last.incoming.text == "<script>alert(1)</script>工资被拖欠"
    assert chat.last.messages  # answered or clarified, not crashed


@pytest.mark.parametrize("kind", ["photo", "voice", "sticker", "document", "video"])
def test_unsupported_message_kinds_get_a_sensible_reply(chat: TestChat, kind: str) -> None:
    chat.send_kind(kind)
    assert "文字" in chat.last_text
    assert chat.last.incoming.kind == "media" and chat.last.incoming.decision["media"] == kind


def test_not_helpful_withdraws_the_answered_outcome(chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    chat.press("/not_helpful")
    assert "/lawyer" in chat.button_payloads()
    assert chat.conversation().pending_outcome is None


def test_citizen_can_cancel_a_handoff(runtime: Runtime, chat: TestChat) -> None:
    chat.press("/lawyer")
    assert chat.conversation().status == ConversationStatus.waiting
    chat.press("/cancel")
    conversation = chat.conversation()
    assert conversation.status == ConversationStatus.closed and conversation.outcome == Outcome.withdrawn
    with runtime.store.session() as session:
        assert session.exec(select(HandoffTicket)).one().status == "cancelled"


def test_lawyer_claims_replies_and_resolves(runtime: Runtime, chat: TestChat) -> None:
    lawyer = create_lawyer(runtime.store, "zhang", "correct horse", display_name="张")
    other = create_lawyer(runtime.store, "li", "battery staple", display_name="李")
    chat.say("我想找律师帮我打官司")
    assert chat.conversation().status == ConversationStatus.waiting
    [view] = runtime.queue.tickets()
    ticket_id = view.ticket.id
    assert ticket_id is not None
    runtime.queue.claim(ticket_id, lawyer)
    with pytest.raises(AlreadyClaimed):
        runtime.queue.claim(ticket_id, other)
    assert chat.conversation().status == ConversationStatus.with_lawyer
    chat.say("我在广州，公司欠我两万块")
    assert chat.last.messages == []  # goes to the lawyer, the bot stays quiet
    runtime.queue.reply(ticket_id, lawyer, "您好，请问有劳动合同吗？")
    with pytest.raises(HandoffError):
        runtime.queue.reply(ticket_id, other, "插话")
    with pytest.raises(HandoffError):
        runtime.queue.resolve(ticket_id, lawyer, "answered", "")
    runtime.queue.resolve(ticket_id, lawyer, "resolved_by_lawyer", "建议申请劳动仲裁")
    conversation = chat.conversation()
    assert conversation.outcome == Outcome.resolved_by_lawyer
    transcript = messages_of(runtime, conversation.id or 0)
    assert any(m.sender == "lawyer" and "劳动合同" in m.text for m in transcript)
    chat.press("/rate:5")
    assert "/comment" in chat.button_payloads()
    chat.press("/comment")
    chat.say("张律师很耐心，谢谢")
    assert "收到" in chat.last_text
    with runtime.store.session() as session:
        rating = session.exec(select(Feedback).where(Feedback.kind == "rating")).one()
        comment = session.exec(select(Feedback).where(Feedback.kind == "comment")).one()
    assert rating.rating == 5 and rating.conversation_id == conversation.id
    assert comment.comment == "张律师很耐心，谢谢" and comment.conversation_id == conversation.id
    assert chat.last.conversation_id == conversation.id  # the comment did not open a new conversation
    chat.say("另外想问下房东不退押金怎么办")
    assert chat.last.conversation_id != conversation.id


def test_handoff_packet_carries_facts(runtime: Runtime, chat: TestChat) -> None:
    chat.say("我和公司的劳动仲裁已经立案了，公司欠我3万元工资，去年5月的事，在杭州市")
    [view] = runtime.queue.tickets()
    facts = view.ticket.packet["facts"]
    assert "30000元" in facts["amounts"]
    assert any("杭州市" in p for p in facts["places"])
    assert view.ticket.packet["reason"].startswith("complex") and not view.ticket.packet["urgent"]


def test_handoff_packet_reads_chinese_numerals_and_shows_what_came_before(runtime: Runtime, chat: TestChat) -> None:
    import datetime as dt

    chat.say("老板拖欠工资三个月了")
    runtime.engine.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=3))  # answered, then idle: closed
    first = chat.last.conversation_id
    chat.say("房东扣了我三千块押金，还说要我再赔两万五，我不同意")
    chat.press("/lawyer")
    [view] = runtime.queue.tickets()
    packet = view.ticket.packet
    assert {"3000元", "25000元"} <= set(packet["facts"]["amounts"])
    assert [(c["conversation_id"], c["outcome"]) for c in packet["earlier"]] == [(first, Outcome.answered.value)]
    assert "拖欠工资" in packet["earlier"][0]["first_message"]
    assert packet["applications"] == [] and packet["bookings"] == []


def test_sweeper_closes_idle_conversations_with_their_outcome(runtime: Runtime, chat: TestChat) -> None:
    import datetime as dt

    chat.say("老板拖欠工资三个月了")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    closed = runtime.engine.sweep(now=later)
    assert closed == [chat.last.conversation_id]
    assert chat.conversation().outcome == Outcome.answered
    assert runtime.engine.sweep(now=later) == []


@pytest.mark.parametrize(("hours", "days", "off_duty"), [
    ("00:00-23:59:59.999999", "1,2,3,4,5,6,7", False),  # always on duty
    ("00:00-00:00", "1,2,3,4,5,6,7", True),  # an empty working day
    ("00:00-23:59:59.999999", "", True),  # no working days
])
def test_a_handoff_out_of_hours_says_when_and_where_to_call(runtime: Runtime, hours: str, days: str,
                                                           off_duty: bool) -> None:
    runtime.engine.settings = runtime.settings.model_copy(update={"service_hours": hours, "service_days": days})
    chat = TestChat(runtime.engine, user_id="citizen-hours")
    texts = [m.text for m in chat.press("/lawyer")]
    notice = [t for t in texts if "非工作时间" in t]
    assert bool(notice) is off_duty
    if off_duty:
        assert "12348" in notice[0] and "110" in notice[0] and hours in notice[0]
    assert chat.conversation().status == ConversationStatus.waiting  # the ticket is queued either way


def test_a_question_while_waiting_is_answered_and_the_citizen_stays_in_the_queue(runtime: Runtime, chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    chat.press("/lawyer")
    chat.say("单位拖欠工资，我该怎么讨薪？")
    texts = [m.text for m in chat.last.messages]
    assert texts[0].startswith(t("meanwhile", "zh")) and chat.last.messages[0].decision["while_waiting"] is True
    assert texts[-1].startswith(t("still_waiting", "zh", ahead=0)[:6])
    conversation = chat.conversation()
    assert conversation.status == ConversationStatus.waiting and conversation.pending_outcome is None
    assert len(runtime.queue.tickets()) == 1
    chat.say("好的")  # nothing to answer: only where the citizen stands
    assert len(chat.last.messages) == 1 and not chat.last.messages[0].text.startswith(t("meanwhile", "zh"))


@pytest.mark.parametrize("text", ["你们几点上班", "律师什么时候有人", "What are your working hours?"])
def test_asking_when_lawyers_are_there_gets_the_hours(runtime: Runtime, chat: TestChat, text: str) -> None:
    chat.say(text)
    reply = chat.last.messages[-1]  # after the first-contact notice
    assert runtime.settings.service_hours in reply.text and "12348" in reply.text
    assert chat.last.incoming.decision == {"front_desk": "hours"} and runtime.queue.tickets() == []


def test_asking_where_the_nearest_centre_is_lists_the_centres(runtime: Runtime, chat: TestChat) -> None:
    from services.city import Level, load_city

    chat.say("离我最近的法律服务中心在哪")
    reply = chat.last.messages[-1]
    city = load_city(runtime.settings.city_file)
    for centre in city.centres:  # the city's and the districts' centres; sharing a location finds the rest
        listed = centre.level in (Level.city, Level.county)
        assert (centre.name in reply.text and centre.phone in reply.text) is listed, centre.id
    assert chat.last.incoming.decision == {"front_desk": "centres"}


def test_service_days_in_words() -> None:
    from bot.actions import days_text

    assert days_text("1,2,3,4,5", "zh") == "周一至周五" and days_text("1,2,3,4,5", "en") == "Mon–Fri"
    assert days_text("1,2,3,4,5,6,7", "zh") == "每天" and days_text("6,7", "zh") == "周六、周日"
    assert days_text("x", "zh") == "x"


def test_each_reply_is_in_the_language_of_the_message(runtime: Runtime, chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    chat.say("My landlord will not give back my deposit, what can I do?")
    reply = chat.last.messages[-1]
    assert reply.decision and reply.decision["action"] in ("answer", "suggest")
    english = {t(key, "en") for key in ("suggest", "btn_none_fit", "btn_lawyer", "btn_helpful")}
    shown = [reply.text.split("\n")[0], *(b["label"] for b in reply.buttons)]
    assert t("legal_basis", "en") in reply.text or reply.text == t("suggest", "en")
    assert english & set(shown) and not any("转接" in s or "有帮助" in s for s in shown)
    if reply.decision["action"] == "answer":
        assert runtime.kb.get(reply.decision["faq_id"]).lang == "en"  # type: ignore[union-attr]
    else:
        assert all(runtime.kb.get(i).lang == "en" for i in reply.decision["suggestions"])  # type: ignore[union-attr]
    chat.say("thanks, bye")
    assert all(not is_chinese(m.text) for m in chat.last.messages)
    chat.say("房东不退押金怎么办")
    assert t("legal_basis", "zh") in chat.last.messages[-1].text or chat.last.messages[-1].text == t("suggest", "zh")


def test_several_questions_are_answered_in_one_message_with_a_part_each(runtime: Runtime) -> None:
    sure = runtime.engine.policy.settings.model_copy(update={"kb_answer_threshold": 0.0})
    rt = build_runtime(sure)
    try:
        chat = TestChat(rt.engine, user_id="citizen-several")
        chat.say("老公欠了十几万网贷还打麻将，我想离婚分财产。另外我在公司干了三年一直没签劳动合同，能要双倍工资吗")
        reply = chat.last.messages[-1]
        assert reply.decision and len(reply.decision["parts"]) >= 2
        entries = [rt.kb.get(i) for i in reply.decision["parts"]]
        for n, entry in enumerate(entries, start=1):
            assert entry is not None and t("part_title", "zh", n=n, question=entry.question) in reply.text
            assert entry.answer in reply.text
        assert chat.conversation().last_faq_id == entries[-1].id  # type: ignore[union-attr]
    finally:
        rt.store.dispose()


def test_a_short_follow_up_is_read_with_the_question_just_answered(runtime: Runtime, chat: TestChat) -> None:
    chat.say("房东不退押金怎么办")
    answered = chat.conversation().last_faq_id
    assert answered is not None
    chat.say("那如果他一直不给呢")
    reply = chat.last.messages[-1]
    assert reply.decision and reply.decision["action"] in ("answer", "suggest")
    shown = reply.decision.get("suggestions") or [reply.decision.get("faq_id")]
    topic = runtime.kb.get(answered).topic  # type: ignore[union-attr]
    assert answered not in shown and all(runtime.kb.get(i).topic == topic for i in shown)  # type: ignore[union-attr]


def test_a_new_question_after_an_answer_is_not_read_as_a_follow_up(runtime: Runtime, chat: TestChat) -> None:
    chat.say("房东不退押金怎么办")
    chat.say("被狗咬了怎么办")  # answerable on its own: the previous answer does not colour it
    reply = chat.last.messages[-1]
    assert reply.decision and reply.decision["action"] == "answer"
    assert runtime.kb.get(reply.decision["faq_id"]).topic.value == "tort"  # type: ignore[union-attr]


def test_an_answer_offers_related_questions(runtime: Runtime, chat: TestChat) -> None:
    chat.say("房东不退押金怎么办")
    reply = chat.last.messages[-1]
    related = [b for b in reply.buttons if b["payload"].startswith(SUGGESTED)]
    assert 2 <= len(related) <= 3 and reply.decision["faq_id"] not in [b["payload"] for b in related]
    chat.press(related[0]["payload"])
    assert chat.last.messages[-1].decision["faq_id"] == related[0]["payload"].removeprefix(SUGGESTED)
