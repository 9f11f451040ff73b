"""Applications in the conversation (services/desk.py through the engine): start, fill in, correct, pause
and resume, cancel, consent, submit with a number and a pre-screen, follow progress, rate, book.

On SQLite only: what depends on the database (reference numbers and seats under concurrency, the steps
and their rows) is tested on both databases in tests/test_applications.py and tests/test_bookings.py."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlmodel import select

from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import Application, ApplicationEvent, Conversation, Lawyer, Message
from services import applications as apps
from services import desk

#: A valid resident ID number (the check digit computed by GB 11643).
ID_CARD = "11010519491231002X"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'legalbot.db'}"


def texts(replies: list[Message]) -> str:
    return "\n".join(m.text for m in replies)


def payloads(replies: list[Message]) -> list[str]:
    return [b["payload"] for m in replies for b in m.buttons]


def fill_legal_aid(chat: TestChat, income: str = "3000", circumstance: str = "没有以下情况") -> list[Message]:
    chat.say("申请法律援助")
    for answer in ("张三", ID_CARD, "13912345678", "示例区"):
        chat.say(answer)
    chat.press(desk.FORM + "追讨工资或确认劳动关系")
    chat.say("3")
    chat.say(income)
    chat.press(desk.FORM + circumstance)
    return chat.say("老板拖欠三个月工资一直不给，想申请仲裁。")


def submit_legal_aid(chat: TestChat) -> list[Message]:
    """A legal-aid application filled in, confirmed and consented to: the reply with its reference."""
    fill_legal_aid(chat)
    chat.press(desk.FORM + "确认提交")
    return chat.press(desk.FORM + "同意")


def application(runtime: Runtime, chat: TestChat) -> Application:
    with runtime.store.session() as session:
        found = session.exec(select(Application).where(Application.citizen_id == chat.conversation().citizen_id)
                             .order_by(Application.id.desc())).first()  # type: ignore[union-attr]
        assert found is not None
        return found


def test_short_requests_start_a_form_and_stories_do_not() -> None:
    assert desk.keyword("申请法律援助") == "/apply:legal_aid"
    assert desk.keyword("我要申请法律援助！") == "/apply:legal_aid"
    assert desk.keyword("预约公证") == "/apply:notarization"
    assert desk.keyword("查询进度 FY-20261204-0007") == "/progress:FY-20261204-0007"
    assert desk.keyword("fy-20261204-0007") == "/progress:FY-20261204-0007"
    assert desk.keyword("查询进度") == "/progress"
    assert desk.keyword("找律师") is None  # a lawyer now: the handoff queue, not the referral form
    assert desk.keyword("法律援助怎么申请") is None  # a question: answered from the knowledge base
    assert desk.keyword("我想申请法律援助但是老板说我不符合条件怎么办") is None


def test_a_citizen_applies_for_legal_aid_and_is_screened(runtime: Runtime, chat: TestChat) -> None:
    first = chat.say("申请法律援助")
    assert "法律援助申请" in texts(first) and "姓名" in texts(first)
    assert payloads(first) == []  # a typed answer: no buttons (on WeChat a typed "1" would press one)
    assert "取消" in texts(first)  # but the citizen is told how to cancel
    summary = fill_legal_aid(chat)
    assert "请核对" in texts(summary) and "11010519491231002X" in texts(summary)
    consent = chat.press(desk.FORM + "确认提交")
    assert "敏感个人信息" in texts(consent) and "/form:同意" in payloads(consent)
    done = chat.press(desk.FORM + "同意")
    said = texts(done)
    reference = re.search(r"FY-\d{8}-\d{4}", said)
    assert reference, said
    assert "法律援助中心" in said  # the office serving 示例区, from the city file
    assert "法律援助法第四十三条" in said
    assert "初步判断" in said and "经济困难" in said  # income 3000 for 3 people: below the example standard
    assert "请准备这些材料" in said
    found = application(runtime, chat)
    assert found.status == apps.SUBMITTED and found.reference == reference.group(0)
    assert found.screening and found.screening["result"] == "likely"
    assert found.due_at is not None and found.office
    assert chat.conversation().pending_outcome == "referred"
    # The answers went to the form, not to the NLU: none of them was read as a question.
    with runtime.store.session() as session:
        decisions = [m.decision for m in session.exec(select(Message).where(
            Message.citizen_id == found.citizen_id, Message.direction == "in")).all()]
    assert not any((d or {}).get("action") for d in decisions)


def test_bad_answers_are_asked_again_and_one_answer_can_be_changed(chat: TestChat) -> None:
    chat.say("申请法律援助")
    chat.say("张三")
    wrong = chat.say("110105194912310021")  # wrong check digit
    assert "身份证号码不对" in texts(wrong)
    chat.say(ID_CARD)
    assert "电话号码不对" in texts(chat.say("12345"))
    chat.say("13912345678")
    assert "请从这些区县中选择" in texts(chat.say("火星区"))
    changed = chat.say("改一下电话")
    assert "重新填写联系电话" in texts(changed)
    chat.say("13800001111")
    assert "区县" in chat.last_text  # back to where it was


def test_cancel_ends_the_draft_and_forgets_the_answers(runtime: Runtime, chat: TestChat) -> None:
    chat.say("申请法律援助")
    chat.say("张三")
    assert "已取消" in texts(chat.say("取消"))
    found = application(runtime, chat)
    assert found.status == apps.CANCELLED and found.result == "cancelled"
    assert "answers" not in found.state
    # The next message is an ordinary question again.
    assert "取消" not in texts(chat.say("公司拖欠工资怎么办"))


def test_a_paused_form_is_offered_again_and_resumed(runtime: Runtime, chat: TestChat) -> None:
    chat.say("申请法律援助")
    chat.say("张三")
    with runtime.store.session() as session:  # three days later
        draft = session.exec(select(Application).where(Application.status == apps.DRAFT)).one()
        draft.updated_at = draft.updated_at - dt.timedelta(days=3)
        session.add(draft)
        session.commit()
    later = chat.say("公司拖欠工资怎么办")
    assert "没填完的法律援助申请" in texts(later) and desk.RESUME in payloads(later)
    assert "姓名" not in later[0].text  # the question itself was answered first
    resumed = chat.press(desk.RESUME)
    assert "身份证" in texts(resumed)
    chat.say(ID_CARD)
    assert "电话" in chat.last_text


def test_danger_while_filling_in_a_form_comes_first(chat: TestChat) -> None:
    chat.say("申请法律援助")
    chat.say("张三")
    replies = chat.say("他现在拿着刀在门外要杀我")
    assert "110" in texts(replies)
    assert "身份证号码不对" not in texts(replies)


def test_progress_is_shown_only_to_the_applicant(runtime: Runtime, chat: TestChat) -> None:
    submit_legal_aid(chat)
    reference = application(runtime, chat).reference
    shown = texts(chat.say(f"查询进度 {reference}"))
    assert reference in shown and "已提交，待受理" in shown and "办理期限" in shown
    stranger = TestChat(runtime.engine, user_id="someone-else")
    assert "没有找到" in texts(stranger.say(f"查询进度 {reference}"))


def office_step(runtime: Runtime, application_id: int, step: str, **kwargs: object) -> None:
    with runtime.store.session() as session:
        staff = session.exec(select(Lawyer).where(Lawyer.username == "office-test")).first() or \
            Lawyer(username="office-test", display_name="中心", password_hash="x", role="admin")
        session.add(staff)
        session.flush()
        found = session.get(Application, application_id)
        assert found is not None
        apps.act(session, found, step, staff, **kwargs)  # type: ignore[arg-type]
        session.commit()


def test_each_office_step_reaches_the_citizen_and_the_citizen_rates(runtime: Runtime, chat: TestChat) -> None:
    submit_legal_aid(chat)
    found = application(runtime, chat)
    assert found.id is not None
    office_step(runtime, found.id, "ask_materials", checklist=["收入证明", "劳动合同"])
    with runtime.store.session() as session:
        told = session.exec(select(Message).where(Message.citizen_id == found.citizen_id)
                            .order_by(Message.id.desc())).first()  # type: ignore[union-attr]
        assert told is not None and "收入证明" in told.text and found.reference in told.text
    received = chat.send_kind("photo")
    assert "已收到" in texts(received)
    with runtime.store.session() as session:
        kinds = [e.kind for e in session.exec(select(ApplicationEvent)
                                              .where(ApplicationEvent.application_id == found.id)).all()]
    assert kinds[-1] == "materials_received"
    office_step(runtime, found.id, "accept")
    office_step(runtime, found.id, "complete", result="granted", text="承办律师：李律师。")
    timeline = texts(chat.say(f"查询进度 {found.reference}"))
    for step in ("已提交", "要求补充材料", "收到您补充的材料", "已受理", "已办结"):
        assert step in timeline
    rated = chat.press(f"{desk.RATE}{found.id}:1")
    assert "转给办理机构" in texts(rated)
    chat.press(f"{desk.COMMENT}{found.id}")
    chat.say("等了太久，电话也没人接")
    with runtime.store.session() as session:
        rated_app = session.get(Application, found.id)
        assert rated_app is not None and rated_app.rating == 1 and "太久" in (rated_app.rating_comment or "")
        flagged = session.exec(select(ApplicationEvent).where(ApplicationEvent.kind == "rated")).one()
        assert flagged.detail["poor"] is True


def test_someone_elses_application_cannot_be_rated(runtime: Runtime, chat: TestChat) -> None:
    submit_legal_aid(chat)
    found = application(runtime, chat)
    stranger = TestChat(runtime.engine, user_id="stranger")
    assert "只能评价" in texts(stranger.press(f"{desk.RATE}{found.id}:5"))
    assert "评价无效" in texts(chat.press(f"{desk.RATE}{found.id}:9"))


def test_an_answer_about_a_service_offers_its_application(chat: TestChat) -> None:
    replies = chat.say("法律援助怎么申请")
    offered = [p for p in payloads(replies) if p.startswith("/faq:legal_aid")]
    if offered:  # the bot asked which question was meant: the citizen picks the first
        replies = chat.press(offered[0])
    assert "/apply:legal_aid" in payloads(replies), texts(replies)
    assert "要现在申请吗" in texts(replies)
    assert "/apply:legal_aid" not in payloads(chat.say("房东不退押金怎么办"))  # not after every answer


def test_the_menu_lists_the_services(chat: TestChat) -> None:
    assert desk.SERVICES in payloads(chat.press("/menu"))
    listed = payloads(chat.press(desk.SERVICES))
    assert {"/apply:legal_aid", "/apply:mediation", "/apply:notarization", "/apply:prison_visit"} <= set(listed)


def test_reference_numbers_count_per_prefix_and_day(runtime: Runtime) -> None:
    day = dt.date(2026, 12, 4)
    with runtime.store.session() as session:
        numbers = [apps.next_reference(session, "FY", day) for _ in range(3)]
        other = apps.next_reference(session, "TJ", day)
        session.commit()
    assert numbers == ["FY-20261204-0001", "FY-20261204-0002", "FY-20261204-0003"]
    assert other == "TJ-20261204-0001"


def test_deleting_ones_data_clears_the_applications(runtime: Runtime, chat: TestChat) -> None:
    submit_legal_aid(chat)
    found = application(runtime, chat)
    chat.press("/delete_my_data:confirm")
    with runtime.store.session() as session:
        erased = session.get(Application, found.id)
        assert erased is not None and erased.status == apps.WITHDRAWN
        assert "answers" not in erased.state and erased.screening is None
        assert session.exec(select(Conversation).where(Conversation.id == found.conversation_id)).one()


@pytest.mark.parametrize("payload", ["/apply:nonsense", "/apprate:abc", "/apprate:999:3", "/appcomment:x",
                                     "/progress:XX-00000000-0000", "/form:同意"])
def test_stale_or_forged_buttons_get_a_clear_answer(chat: TestChat, payload: str) -> None:
    replies = chat.press(payload)
    assert replies and all(m.text for m in replies)


def test_a_citizen_books_an_appointment_step_by_step_and_cancels(runtime: Runtime, chat: TestChat) -> None:
    assert "/book:示例区" in payloads(chat.say("预约"))
    centres = payloads(chat.press("/book:示例区"))
    assert "/book:c-city" in centres
    days = [p for p in payloads(chat.press("/book:c-city")) if p.startswith("/book:c-city:")]
    assert days
    times = [p for p in payloads(chat.press(days[0])) if p.count(":") == 4]
    assert times
    booked = chat.press(times[0])
    assert "预约成功" in texts(booked)
    cancel = next(p for p in payloads(booked) if p.startswith(desk.UNBOOK))
    assert "您的预约" in texts(chat.say("我的预约"))
    assert "没有找到" in texts(TestChat(runtime.engine, user_id="other").press(cancel))  # not theirs
    assert "已取消预约" in texts(chat.press(cancel))
    assert "没有预约" in texts(chat.press(desk.BOOKINGS))


def test_the_housekeeping_escalates_ends_stale_drafts_and_reminds(runtime: Runtime, chat: TestChat) -> None:
    submit_legal_aid(chat)
    submitted = application(runtime, chat)
    drafting = TestChat(runtime.engine, user_id="drafting")
    drafting.say("预约公证")
    drafting.say("李四")
    city = runtime.engine.desk.city()
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    while not city.slot_times("c-city", tomorrow):
        tomorrow += dt.timedelta(days=1)
    with runtime.store.session() as session:
        from services import bookings

        bookings.book(session, city, "c-city", tomorrow, city.slot_times("c-city", tomorrow)[0],
                      submitted.citizen_id)
        session.commit()
    assert submitted.due_at is not None
    later = submitted.due_at + dt.timedelta(days=31)  # past the legal-aid limit and the drafts' 30 days
    reminder_day = dt.datetime.combine(tomorrow - dt.timedelta(days=1), dt.time(10)).astimezone()
    done = runtime.engine.desk.housekeeping(runtime.store, now=later)
    assert done == {"escalated": 1, "abandoned": 1, "reminded": 0}
    with runtime.store.session() as session:
        escalated = session.get(Application, submitted.id)
        assert escalated is not None and escalated.escalated_at is not None
    assert runtime.engine.desk.housekeeping(runtime.store, now=later)["escalated"] == 0  # once
    reminded = runtime.engine.desk.housekeeping(runtime.store, now=reminder_day)
    assert reminded["reminded"] == 1
    assert runtime.engine.desk.housekeeping(runtime.store, now=reminder_day)["reminded"] == 0
    with runtime.store.session() as session:
        last = session.exec(select(Message).where(Message.citizen_id == submitted.citizen_id)
                            .order_by(Message.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None and "提醒" in last.text


def test_centres_by_district_list_every_level_and_book_the_bookable(chat: TestChat) -> None:
    asked = chat.say("最近的法律服务中心在哪")
    assert desk.CENTRES in payloads(asked)
    assert "/centres:示例区" in payloads(chat.press(desk.CENTRES))
    listed = chat.press("/centres:示例区")
    shown = texts(listed)
    assert "示例街道公共法律服务工作站" in shown and "乡镇街道" in shown and "可办：" in shown
    assert shown.index("示例街道") < shown.index("示例市公共法律服务中心")  # the nearest level first
    assert "/book:c-city" in payloads(listed)
    assert "请选择您所在的区县" in texts(chat.press("/centres:火星区"))
