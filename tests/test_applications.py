"""An application's life without the conversation (services/applications.py): reference numbers under
concurrency, which office step is allowed when, time limits, escalation, erasure."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlmodel import select

from bot.store import Application, ApplicationEvent, Lawyer, Message, Store, utcnow
from services import applications as apps
from tests.conftest import new_conversation

OFFICE_A = apps.Office("fy-a", "甲法律援助中心", "12348")
OFFICE_B = apps.Office("fy-b", "乙法律援助中心", "12348")
ANSWERS = {"name": "张三", "id_card": "11010519491231002X", "phone": "13912345678", "district": "示例区"}


def submitted(store: Store, form: str = "legal_aid", office: apps.Office | None = OFFICE_A) -> int:
    with store.session() as session:
        conversation = new_conversation(session, f"c-{utcnow().timestamp()}-{id(object())}", "testing")
        application = apps.start_draft(session, conversation.citizen_id, conversation.id or 0, form)
        application.state = {"form": form, "answers": dict(ANSWERS), "stage": "submitted"}
        apps.submit(session, application, office, screening=None)
        session.commit()
        assert application.id is not None
        return application.id


def staff(store: Store, office: str | None = "fy-a", role: str = "office") -> Lawyer:
    with store.session() as session:
        account = Lawyer(username=f"{role}-{office}-{utcnow().timestamp()}", display_name="办理人", password_hash="x",
                         role=role, office=office)
        session.add(account)
        session.commit()
        return account


def step(store: Store, application_id: int, name: str, who: Lawyer, **kwargs: object) -> Application:
    with store.session() as session:
        application = session.get(Application, application_id)
        assert application is not None
        apps.act(session, application, name, who, **kwargs)  # type: ignore[arg-type]
        session.commit()
        return application


def test_reference_numbers_are_unique_when_many_workers_submit_at_once(store: Store) -> None:
    day = dt.date(2026, 12, 4)
    got: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def take() -> None:
        try:
            start.wait()
            with store.session() as session:
                got.append(apps.next_reference(session, "FY", day))
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(got) == [f"FY-20261204-{n:04d}" for n in range(1, 9)]


def test_a_submission_gets_its_office_its_limit_and_no_second_submission(store: Store) -> None:
    application_id = submitted(store)
    with store.session() as session:
        application = session.get(Application, application_id)
        assert application is not None and application.office == "fy-a" and application.district == "示例区"
        assert application.reference and application.reference.startswith("FY-")
        assert application.due_at is not None and application.submitted_at is not None
        assert application.due_at - application.submitted_at == dt.timedelta(days=7)  # 法律援助法 第四十三条
        with pytest.raises(apps.ApplicationError, match="已经提交"):
            apps.submit(session, application, OFFICE_A, None)


def test_only_the_steps_the_status_allows(store: Store) -> None:
    application_id = submitted(store)
    office = staff(store)
    with pytest.raises(apps.ApplicationError, match="不能办结"):
        step(store, application_id, "complete", office, result="granted")
    with pytest.raises(apps.ApplicationError, match="理由"):
        step(store, application_id, "refuse", office)
    with pytest.raises(apps.ApplicationError, match="材料"):
        step(store, application_id, "ask_materials", office, checklist=["  "])
    with pytest.raises(apps.ApplicationError, match="没有这个操作"):
        step(store, application_id, "approve", office)
    step(store, application_id, "accept", office)
    with pytest.raises(apps.ApplicationError, match="办理结果"):
        step(store, application_id, "complete", office, result="maybe")
    done = step(store, application_id, "complete", office, result="granted", text="承办律师：李律师")
    assert done.status == apps.COMPLETED and done.result == "granted" and done.due_at is None
    with pytest.raises(apps.ApplicationError):
        step(store, application_id, "accept", office)


def test_another_offices_staff_cannot_act_and_a_transfer_moves_it(store: Store) -> None:
    application_id = submitted(store)
    with pytest.raises(apps.ApplicationError, match="不属于您的机构"):
        step(store, application_id, "accept", staff(store, "fy-b"))
    office = staff(store)
    with pytest.raises(apps.ApplicationError, match="已经在这个机构"):
        step(store, application_id, "transfer", office, office=OFFICE_A)
    moved = step(store, application_id, "transfer", office, office=OFFICE_B, text="属乙区管辖")
    assert moved.office == "fy-b" and moved.status == apps.SUBMITTED
    step(store, application_id, "accept", staff(store, "fy-b"))


def test_every_step_but_a_note_tells_the_citizen(store: Store) -> None:
    application_id = submitted(store)
    office = staff(store)
    step(store, application_id, "note", office, text="电话未接通，明天再打")
    step(store, application_id, "ask_materials", office, checklist=["收入证明", "劳动合同"])
    with store.session() as session:
        told = session.exec(select(Message).where(Message.direction == "out")).all()
        assert len(told) == 1 and "收入证明" in told[0].text and "劳动合同" in told[0].text
        assert "电话未接通" not in told[0].text  # a note stays inside the office
        events = session.exec(select(ApplicationEvent).where(ApplicationEvent.application_id == application_id)
                              .order_by(ApplicationEvent.id)).all()  # type: ignore[arg-type]
        assert [e.kind for e in events] == ["submitted", "note", "ask_materials"]
        assert events[1].public is False and events[2].message_id == told[0].id


def test_the_time_limit_stops_when_it_should(store: Store) -> None:
    legal_aid = submitted(store)
    mediation = submitted(store, "mediation")
    office = staff(store)
    assert step(store, legal_aid, "accept", office).due_at is not None  # legal aid: until decided
    assert step(store, mediation, "accept", office).due_at is None  # the others: until accepted


def test_overdue_applications_are_escalated_once(store: Store) -> None:
    application_id = submitted(store)
    later = utcnow() + dt.timedelta(days=8)
    with store.session() as session:
        assert apps.escalate_overdue(session, utcnow()) == 0
        assert apps.escalate_overdue(session, later) == 1
        session.commit()
    with store.session() as session:
        assert apps.escalate_overdue(session, later) == 0
        application = session.get(Application, application_id)
        assert application is not None and application.escalated_at is not None


def test_retention_forgets_what_was_told_to_applications_that_ended(store: Store) -> None:
    application_id = submitted(store)
    office = staff(store)
    step(store, application_id, "refuse", office, text="不属于法律援助范围")
    with store.session() as session:
        assert apps.erase_closed(session, utcnow() - dt.timedelta(days=1)) == 0  # ended after the cutoff
        assert apps.erase_closed(session, utcnow() + dt.timedelta(days=1)) == 1
        session.commit()
    with store.session() as session:
        application = session.get(Application, application_id)
        assert application is not None and application.state == {"form": "legal_aid", "erased": True}
        assert application.reference and application.result == "refused"  # the counts stay
        assert all(not e.text for e in session.exec(select(ApplicationEvent)).all())
        assert apps.erase_closed(session, utcnow() + dt.timedelta(days=1)) == 0


def test_a_refusal_gives_the_reason_and_for_legal_aid_the_way_to_object(store: Store) -> None:
    legal_aid, mediation = submitted(store), submitted(store, "mediation")
    office = staff(store)
    step(store, legal_aid, "refuse", office, text="家庭收入高于经济困难标准")
    step(store, mediation, "refuse", office, text="已经起诉到法院")
    with store.session() as session:
        told = [m.text for m in session.exec(select(Message).order_by(Message.id)).all()]  # type: ignore[arg-type]
    assert "家庭收入高于经济困难标准" in told[0] and "法律援助法第四十九条" in told[0]
    assert "已经起诉到法院" in told[1] and "第四十九条" not in told[1]
