"""The back offices' inbox in the console (issue 14): an office account sees its own office's applications
and nothing else (no other office's, no citizen's chat), takes each step, and the citizen is told."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.runtime import Runtime
from bot.settings import get_settings
from bot.store import Application, AuditEntry, Message, utcnow
from handoff.auth import AccountError, create_lawyer
from services.applications import Office, start_draft, submit
from tests.conftest import new_conversation
from tests.test_console_security import console, log_in

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

PASSWORD = "correct horse"
APPS = "/api/console/applications"
#: Two legal-aid centres of the example city file (services/data/city.yml).
CITY_CENTRE = Office("fy-city", "示例市法律援助中心", "12348")
COUNTY_CENTRE = Office("fy-county", "示例县法律援助中心", "0000-1234801")
ANSWERS: dict[str, Any] = {"name": "李四", "id_card": "11010519491231002X", "phone": "13800138000", "district": "示例区",
           "matter": "追讨工资或确认劳动关系", "household_size": 3, "household_monthly_income": 2400,
           "circumstance": "没有以下情况", "summary": "老板拖欠三个月工资共八千元"}
SCREENING = {"result": "likely", "reasons": ["家庭人均月收入约800元，不高于示例区的经济困难标准"],
             "materials": ["身份证件（代为申请的，另带代理权证明）", "劳动合同、工资条、考勤、聊天记录等用工证据"],
             "legal_basis": [{"law": "法律援助法", "article": 31}, {"law": "法律援助法", "article": 43}]}


def seed_application(runtime: Runtime, office: Office = CITY_CENTRE, form: str = "legal_aid",
                     answers: dict[str, Any] | None = None) -> tuple[int, str, int]:
    """A citizen's submitted application, as the chat leaves it: (application id, reference, conversation id)."""
    with runtime.store.session() as session:
        conversation = new_conversation(session, f"applicant-{utcnow().timestamp()}", service="legal_aid")
        assert conversation.id is not None
        application = start_draft(session, conversation.citizen_id, conversation.id, form)
        application.state = {"form": form, "answers": dict(answers or ANSWERS), "stage": "consented"}
        submit(session, application, office, screening=SCREENING if form == "legal_aid" else None)
        session.commit()
        assert application.id is not None and application.reference is not None
        return application.id, application.reference, conversation.id


def account(runtime: Runtime, username: str, role: str = "office", office: str | None = "fy-city") -> TestClient:
    create_lawyer(runtime.store, username, PASSWORD, display_name=username.upper(), role=role,
                  office=office if role == "office" else None)
    client = console(runtime)
    client.__enter__()
    assert log_in(client, username).status_code == 200
    return client


@pytest.fixture
def clients(runtime: Runtime) -> Iterator[dict[str, TestClient]]:
    made = {"a": account(runtime, "centre-a"), "b": account(runtime, "centre-b", office="fy-county"),
            "lawyer": account(runtime, "zhang", role="lawyer"), "admin": account(runtime, "boss", role="admin")}
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


def bot_messages(runtime: Runtime, conversation_id: int) -> list[str]:
    with runtime.store.session() as session:
        return list(session.exec(select(Message.text).where(Message.conversation_id == conversation_id,
                                                            Message.sender == "bot").order_by(col(Message.id))).all())


# ---- who sees what ----------------------------------------------------------------------------------


def test_an_office_sees_its_own_applications_and_nothing_of_anyone_elses(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, reference, _ = seed_application(runtime)
    a, b = clients["a"], clients["b"]

    listed = a.get(APPS).json()["applications"]
    assert [x["reference"] for x in listed] == [reference]
    row = listed[0]
    assert row["title"] == "法律援助申请" and row["status"] == "submitted" and row["status_name"] == "已提交，待受理"
    assert row["office_name"] == "示例市法律援助中心" and row["applicant"] == "李四" and row["district"] == "示例区"
    assert row["overdue"] is False and row["poor_rating"] is False and row["latest_event"] == "submitted"
    assert ANSWERS["id_card"] not in a.get(APPS).text  # the list never shows the ID number

    detail = a.get(f"{APPS}/{app_id}").json()
    assert [x["label"] for x in detail["answers"]][:4] == ["姓名", "身份证号码", "联系电话", "所在区县"]
    assert {"label": "身份证号码", "name": "id_card", "value": ANSWERS["id_card"]} in detail["answers"]  # their job
    assert detail["screening"]["result"] == "likely" and detail["screening"]["legal_basis"][0]["article"] == 31
    assert "第四十三条" in detail["sla_basis"]
    assert [e["kind"] for e in detail["timeline"]] == ["submitted"]
    assert set(detail["steps"]) >= {"accept", "ask_materials", "schedule", "transfer", "refuse", "note"}
    assert "complete" not in detail["steps"]
    assert [o["id"] for o in detail["transfer_offices"]] == ["fy-county"]

    # another office: as if it did not exist
    assert b.get(APPS).json()["applications"] == []
    assert b.get(f"{APPS}/{app_id}").status_code == 404
    assert b.get(f"{APPS}/{app_id + 1000}").json()["detail"] == b.get(f"{APPS}/{app_id}").json()["detail"]
    assert b.post(f"{APPS}/{app_id}/accept", json={}).status_code == 404
    assert b.get(APPS, params={"office": "fy-city"}).status_code == 403

    # the admin sees every office's, or one office's
    assert [x["id"] for x in clients["admin"].get(APPS).json()["applications"]] == [app_id]
    assert clients["admin"].get(APPS, params={"office": "fy-county"}).json()["applications"] == []


def test_lawyers_cannot_open_applications_and_offices_cannot_open_the_queue(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, _, _ = seed_application(runtime)
    lawyer, office = clients["lawyer"], clients["a"]
    assert lawyer.get(APPS).status_code == 403
    assert lawyer.get(f"{APPS}/{app_id}").status_code == 403
    assert lawyer.post(f"{APPS}/{app_id}/accept", json={}).status_code == 403
    for path in ("/api/console/queue", "/api/console/tickets/1", "/api/console/lawyers", "/api/console/canned"):
        refused = office.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["detail"] == "办理机构账号只能处理本机构的申请"
    assert office.post("/api/console/tickets/1/claim").status_code == 403
    me = office.get("/api/console/me").json()
    assert me["role"] == "office" and me["office"] == "fy-city" and me["office_name"] == "示例市法律援助中心"
    assert me["telegram"]["available"] is False
    assert lawyer.get("/api/console/queue").status_code == 200
    # Office staff are no lawyers: never offered as a colleague to hand a chat to.
    names = [p["username"] for p in lawyer.get("/api/console/lawyers").json()["lawyers"]]
    assert "zhang" in names and "centre-a" not in names and "centre-b" not in names


def test_steps_need_the_session_token(runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, _, _ = seed_application(runtime)
    a = clients["a"]
    token = a.headers.pop("X-CSRF-Token")
    assert a.post(f"{APPS}/{app_id}/accept", json={}).status_code == 403
    a.headers["X-CSRF-Token"] = token
    assert a.post(f"{APPS}/{app_id}/accept", json={}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert a.get(f"{APPS}/{app_id}").json()["status"] == "submitted"


# ---- steps ------------------------------------------------------------------------------------------


def test_accept_ask_for_materials_and_complete_tell_the_citizen(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, reference, conversation_id = seed_application(runtime)
    a = clients["a"]
    accepted = a.post(f"{APPS}/{app_id}/accept", json={"text": "承办律师会在两个工作日内联系您。"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    told = bot_messages(runtime, conversation_id)
    assert reference in told[-1] and "已受理" in told[-1] and "两个工作日" in told[-1]

    asked = a.post(f"{APPS}/{app_id}/ask_materials", json={"checklist": ["工资条", "  ", "劳动合同"]}).json()
    assert asked["status"] == "materials"
    assert "1. 工资条\n2. 劳动合同" in bot_messages(runtime, conversation_id)[-1]
    assert a.post(f"{APPS}/{app_id}/ask_materials", json={"checklist": []}).status_code == 409

    assert a.post(f"{APPS}/{app_id}/accept", json={}).json()["status"] == "accepted"
    noted = a.post(f"{APPS}/{app_id}/note", json={"text": "材料已齐，指派王律师"}).json()
    assert noted["timeline"][-1]["kind"] == "note" and noted["timeline"][-1]["public"] is False
    assert noted["timeline"][-1]["actor_name"] == "CENTRE-A"
    done = a.post(f"{APPS}/{app_id}/complete", json={"result": "granted", "text": "承办人：王律师"})
    assert done.status_code == 200, done.text
    finished = done.json()
    assert finished["status"] == "completed" and finished["result"] == "granted" and finished["due_at"] is None
    assert [e["kind"] for e in finished["timeline"]] == ["submitted", "accept", "ask_materials", "accept", "note",
                                                        "complete"]
    assert "准予法律援助" in bot_messages(runtime, conversation_id)[-1]
    assert a.get(APPS).json()["applications"] == []  # open ones by default
    assert [x["id"] for x in a.get(APPS, params={"status": "closed"}).json()["applications"]] == [app_id]
    with runtime.store.session() as session:
        actions = session.exec(select(AuditEntry.action).where(col(AuditEntry.action).startswith("application_"))).all()
    assert actions == ["application_accept", "application_ask_materials", "application_accept", "application_note",
                       "application_complete"]


def test_steps_that_cannot_be_taken_are_refused_with_the_reason(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, _, conversation_id = seed_application(runtime)
    a = clients["a"]
    before = len(bot_messages(runtime, conversation_id))
    refused = a.post(f"{APPS}/{app_id}/refuse", json={"text": "  "})
    assert refused.status_code == 409 and "理由" in refused.json()["detail"]
    early = a.post(f"{APPS}/{app_id}/complete", json={"result": "granted"})
    assert early.status_code == 409 and "不能办结" in early.json()["detail"]
    a.post(f"{APPS}/{app_id}/accept", json={})
    bad = a.post(f"{APPS}/{app_id}/complete", json={"result": "refused"})
    assert bad.status_code == 409 and "请选择办理结果" in bad.json()["detail"]
    assert a.post(f"{APPS}/{app_id}/complete", json={"result": "x" * 100}).status_code == 422
    assert a.post(f"{APPS}/{app_id}/note", json={"text": "长" * 2001}).status_code == 422
    assert a.post(f"{APPS}/{app_id}/ask_materials", json={"checklist": ["材料"] * 21}).status_code == 422
    assert a.post(f"{APPS}/{app_id}/explode", json={}).status_code == 404
    assert len(bot_messages(runtime, conversation_id)) == before + 1  # only the accepting was said
    assert a.post(f"{APPS}/{app_id}/refuse", json={"text": "不属于本中心受理范围"}).json()["status"] == "refused"
    assert a.post(f"{APPS}/{app_id}/accept", json={}).status_code == 409


def test_a_transfer_moves_the_application_to_the_other_office(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    app_id, reference, conversation_id = seed_application(runtime)
    a, b = clients["a"], clients["b"]
    unknown = a.post(f"{APPS}/{app_id}/transfer", json={"office": "nowhere"})
    assert unknown.status_code == 422 and "nowhere" in unknown.json()["detail"]
    other_kind = a.post(f"{APPS}/{app_id}/transfer", json={"office": "tj-shiqu"})
    assert other_kind.status_code == 422 and "不办理法律援助申请" in other_kind.json()["detail"]
    assert a.post(f"{APPS}/{app_id}/transfer", json={}).status_code == 422

    moved = a.post(f"{APPS}/{app_id}/transfer", json={"office": "fy-county", "text": "您的户籍在示例县。"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["office"] == "fy-county" and moved.json()["office_name"] == "示例县法律援助中心"
    assert moved.json()["timeline"][-1]["detail"]["to_name"] == "示例县法律援助中心"
    assert "已转交示例县法律援助中心" in bot_messages(runtime, conversation_id)[-1]
    assert a.get(APPS).json()["applications"] == []
    assert a.get(f"{APPS}/{app_id}").status_code == 404
    assert [x["reference"] for x in b.get(APPS).json()["applications"]] == [reference]
    assert b.post(f"{APPS}/{app_id}/accept", json={}).json()["status"] == "accepted"


def test_overdue_applications_come_first_and_poor_ratings_are_flagged(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    newer_id, _, _ = seed_application(runtime)
    late_id, _, _ = seed_application(runtime)
    rated_id, _, _ = seed_application(runtime)
    with runtime.store.session() as session:
        late = session.get(Application, late_id)
        rated = session.get(Application, rated_id)
        assert late is not None and rated is not None
        late.due_at = utcnow() - dt.timedelta(hours=1)
        rated.status, rated.result, rated.due_at, rated.rating = "completed", "granted", None, 2
        rated.rating_comment = "等了很久"
        session.add(late)
        session.add(rated)
        session.commit()
    a = clients["a"]
    listed = a.get(APPS).json()["applications"]
    assert [x["id"] for x in listed] == [late_id, newer_id]
    assert listed[0]["overdue"] is True and listed[1]["overdue"] is False
    everything = a.get(APPS, params={"status": "all"}).json()["applications"]
    assert [x["id"] for x in everything] == [late_id, newer_id, rated_id]
    assert everything[-1]["poor_rating"] is True and everything[-1]["rating_name"] == "不满意"
    assert a.get(f"{APPS}/{rated_id}").json()["rating_comment"] == "等了很久"
    assert a.get(APPS, params={"status": "sometimes"}).status_code == 422


# ---- accounts ---------------------------------------------------------------------------------------


def test_office_accounts_belong_to_one_office_and_only_they_do(runtime: Runtime) -> None:
    with pytest.raises(AccountError, match="needs the id of its office"):
        create_lawyer(runtime.store, "nowhere", PASSWORD, role="office")
    with pytest.raises(AccountError, match="only office accounts"):
        create_lawyer(runtime.store, "wang", PASSWORD, role="lawyer", office="fy-city")
    with pytest.raises(AccountError, match="role must be"):
        create_lawyer(runtime.store, "wang", PASSWORD, role="clerk")
    assert create_lawyer(runtime.store, "centre", PASSWORD, role="office", office="fy-city").office == "fy-city"


def test_the_lawyer_add_command_checks_the_office_against_the_city_file(
        built_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(built_dir))
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        cli = CliRunner()
        unknown = cli.invoke(cli_app, ["lawyer", "add", "centre", "--role", "office", "--office", "fy-moon",
                                       "--password", PASSWORD])
        assert unknown.exit_code == 1 and "no office 'fy-moon'" in unknown.output and "fy-city" in unknown.output
        missing = cli.invoke(cli_app, ["lawyer", "add", "centre", "--role", "office", "--password", PASSWORD])
        assert missing.exit_code == 1 and "--office" in missing.output
        made = cli.invoke(cli_app, ["lawyer", "add", "centre", "--role", "office", "--office", "fy-city",
                                    "--password", PASSWORD])
        assert made.exit_code == 0, made.output
        assert "created office centre for office fy-city" in made.output
    finally:
        get_settings.cache_clear()


def test_the_office_downloads_the_materials_sent_for_its_application(
        runtime: Runtime, clients: dict[str, TestClient]) -> None:
    from services import attachments

    app_id, _, _ = seed_application(runtime)
    other_id, _, _ = seed_application(runtime, COUNTY_CENTRE)
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8
    with runtime.store.session() as session:
        application = session.get(Application, app_id)
        assert application is not None
        saved = attachments.save(session, runtime.settings.data_dir, application.citizen_id, photo, "工资条.jpg")
        attachments.link(session, saved.id or 0, application.citizen_id, app_id, None)
        session.commit()
        url = f"{APPS}/{app_id}/attachments/{saved.id}"
    listed = clients["a"].get(f"{APPS}/{app_id}").json()["attachments"]
    assert [(f["filename"], f["url"]) for f in listed] == [("工资条.jpg", url)]
    got = clients["a"].get(url)
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg" and got.headers["content-disposition"].startswith("attachment")
    assert clients["b"].get(url).status_code == 404  # another office: as if it did not exist
    assert clients["b"].get(f"{APPS}/{other_id}/attachments/{saved.id}").status_code == 404  # not that application's
    assert clients["lawyer"].get(url).status_code == 403
    with runtime.store.session() as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "application_attachment_viewed")).one()
