"""Canned replies and FAQ answers in the lawyer console (handoff/canned.py): shared and personal replies,
search, variables filled for the chat being answered, who may change what, and clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import AuditEntry, Citizen, Conversation, HandoffTicket, Lawyer, Store
from handoff import canned
from handoff.auth import create_lawyer
from handoff.canned import Context, render

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

WAGE_QUESTION = "老板拖欠工资三个月了，一共8000元，怎么办"


class Console:
    """Logs console users in, each with their own cookies and CSRF token, as their pages would."""

    def __init__(self, app: FastAPI, stack: ExitStack) -> None:
        self.app, self.stack = app, stack

    def login(self, username: str, password: str) -> TestClient:
        client = self.stack.enter_context(TestClient(self.app))
        response = client.post("/api/console/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client


@pytest.fixture
def console(runtime: Runtime) -> Iterator[Console]:
    create_lawyer(runtime.store, "zhang", "correct horse", display_name="张律师", topics=["labor"])
    create_lawyer(runtime.store, "li", "battery staple", display_name="李律师")
    create_lawyer(runtime.store, "boss", "admin password", display_name="管理员", role="admin")
    with ExitStack() as stack:
        yield Console(create_app(runtime, run_sweeper=False), stack)


@pytest.fixture
def zhang(console: Console) -> TestClient:
    return console.login("zhang", "correct horse")


@pytest.fixture
def li(console: Console) -> TestClient:
    return console.login("li", "battery staple")


@pytest.fixture
def boss(console: Console) -> TestClient:
    return console.login("boss", "admin password")


def handed_off(client: TestClient, text: str = WAGE_QUESTION) -> int:
    """A citizen asks in the web chat and then asks for a lawyer; returns the ticket's id."""
    chat = client.post("/api/chat").json()
    url, secret = f"/api/chat/{chat['id']}/messages", {"X-Chat-Secret": chat["secret"]}
    assert client.post(url, json={"text": text}, headers=secret).status_code == 200
    assert client.post(url, json={"payload": "/lawyer"}, headers=secret).status_code == 200
    [ticket] = client.get("/api/console/queue").json()["tickets"]
    return int(ticket["id"])


def replies(client: TestClient, **params: object) -> list[dict]:
    response = client.get("/api/console/canned", params=params)
    assert response.status_code == 200, response.text
    return response.json()["replies"]


def by_title(items: list[dict], title: str) -> dict:
    return next(r for r in items if r["title"] == title)


def test_the_bureaus_replies_are_seeded_and_a_lawyers_own_come_first(zhang: TestClient, li: TestClient) -> None:
    shared = replies(zhang)
    assert [r["title"] for r in shared][:2] == ["问候", "请补充证据"]
    assert all(r["shared"] and not r["mine"] and not r["editable"] for r in shared)
    made = zhang.post("/api/console/canned", json={"title": "工伤认定", "shortcut": "gs",
                                                   "text": "工伤认定申请一般由用人单位在30日内提出。"})
    assert made.status_code == 201, made.text
    assert made.json()["mine"] and not made.json()["shared"]
    mine = replies(zhang)
    assert mine[0]["title"] == "工伤认定" and mine[0]["editable"]
    assert len(mine) == len(shared) + 1
    assert "工伤认定" not in [r["title"] for r in replies(li)]  # personal means personal


def test_search_by_shortcut_title_and_chinese_words(zhang: TestClient) -> None:
    assert [r["title"] for r in replies(zhang, q="wh")] == ["问候"]
    assert replies(zhang, q="ZC")[0]["title"] == "劳动仲裁"  # shortcuts ignore case
    assert replies(zhang, q="仲裁")[0]["title"] == "劳动仲裁"  # the title before a text that mentions it
    assert "紧急情况" in [r["title"] for r in replies(zhang, q="拨打110")]  # words inside the text
    assert replies(zhang, q="离婚冷静期") == []
    j = [r["title"] for r in replies(zhang, q="j")]
    assert j[:2] == ["紧急情况", "结束语"]  # shortcuts starting with it come first


def test_variables_are_filled_for_the_chat_being_answered(runtime: Runtime, zhang: TestClient) -> None:
    ticket = handed_off(zhang)
    greeting = by_title(replies(zhang, ticket=ticket), "问候")
    assert greeting["text"].startswith("您好，我是值班律师张律师，")  # no name known in the web chat
    assert greeting["template"].startswith("{称呼}好，我是值班律师{律师}")
    assert greeting["unknown"] == []
    next_step = by_title(replies(zhang, ticket=ticket), "下一步建议")["text"]
    assert "劳动争议" in next_step and "{" not in next_step
    with runtime.store.session() as session:  # a channel that knows the citizen's name (Telegram, WeChat)
        t = session.get(HandoffTicket, ticket)
        assert t is not None
        conversation = session.get(Conversation, t.conversation_id)
        assert conversation is not None
        citizen = session.get(Citizen, conversation.citizen_id)
        assert citizen is not None
        citizen.display_name = "李四\n"
        t.service = "legal_aid"
        session.add_all([citizen, t])
        session.commit()
    named = replies(zhang, ticket=ticket)
    assert by_title(named, "问候")["text"].startswith("李四，您好，我是值班律师张律师")
    assert "法律援助机构申请法律援助" in by_title(named, "下一步建议")["text"]
    assert zhang.get("/api/console/canned", params={"ticket": 99999}).status_code == 404


def test_an_unknown_variable_stays_visible_and_is_reported(zhang: TestClient) -> None:
    made = zhang.post("/api/console/canned", json={"title": "案号", "text": "{称呼}的案号是{案号}，{称呼}请记好。"})
    assert made.status_code == 201
    item = by_title(replies(zhang), "案号")
    assert item["text"] == "您的案号是{案号}，您请记好。"
    assert item["unknown"] == ["案号"]
    values = Context(lawyer="王律师").values()
    assert render("{ 称呼 }{}{未闭合", values) == ("{ 称呼 }{}{未闭合", [])  # odd braces are just text
    assert render("{{律师}}", values) == ("{王律师}", [])


def test_a_lawyer_keeps_their_own_replies_and_only_admins_the_shared_ones(zhang: TestClient, li: TestClient,
                                                                          boss: TestClient) -> None:
    greeting = by_title(replies(zhang), "问候")
    edited = {"title": "问候", "text": "改过的问候", "shortcut": "wh"}
    refused = zhang.put(f"/api/console/canned/{greeting['id']}", json=edited)
    assert refused.status_code == 403 and "管理员" in refused.json()["detail"]
    assert zhang.delete(f"/api/console/canned/{greeting['id']}").status_code == 403
    assert zhang.post("/api/console/canned", json={"text": "共享的", "shared": True}).status_code == 403

    own = zhang.post("/api/console/canned", json={"title": "我的", "text": "张律师自己的"}).json()
    for response in (li.put(f"/api/console/canned/{own['id']}", json={"text": "李改的"}),
                     li.delete(f"/api/console/canned/{own['id']}"),
                     boss.delete(f"/api/console/canned/{own['id']}")):
        assert response.status_code == 403
        assert "其他律师" in response.json()["detail"]
    assert zhang.put(f"/api/console/canned/{own['id']}", json={"title": "我的", "text": "改好了"}).json()["text"] == "改好了"

    assert boss.put(f"/api/console/canned/{greeting['id']}", json=edited).status_code == 200
    assert by_title(replies(zhang), "问候")["text"] == "改过的问候"
    shared = boss.post("/api/console/canned", json={"title": "调解", "shortcut": "tj", "shared": True,
                                                    "text": "人民调解不收费。"})
    assert shared.status_code == 201 and shared.json()["shared"]
    seen = by_title(replies(li), "调解")
    assert seen["shared"] and not seen["editable"]
    assert boss.delete(f"/api/console/canned/{seen['id']}").json() == {"deleted": True}
    assert "调解" not in [r["title"] for r in replies(li)]
    assert zhang.delete(f"/api/console/canned/{own['id']}").status_code == 200
    assert zhang.delete(f"/api/console/canned/{own['id']}").status_code == 404


def test_changes_are_audited(runtime: Runtime, boss: TestClient) -> None:
    made = boss.post("/api/console/canned", json={"title": "调解", "text": "人民调解不收费。", "shared": True}).json()
    boss.delete(f"/api/console/canned/{made['id']}")
    with runtime.store.session() as session:
        actions = [(e.action, e.detail) for e in session.exec(select(AuditEntry)).all() if e.action.startswith("canned")]
    assert actions == [("canned_create", {"reply_id": made["id"], "shared": True}),
                       ("canned_delete", {"reply_id": made["id"], "shared": True})]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"title": "空", "text": "   "}, 422, "不能为空"),
    ({"title": "长", "text": "字" * 2001}, 422, "太长"),
    ({"title": "标" * 41, "text": "内容"}, 422, "标题太长"),
    ({"title": "坏快捷词", "text": "内容", "shortcut": "a b"}, 422, "快捷词"),
    ({"title": "重复", "text": "内容", "shortcut": "WH"}, 409, "问候"),
    ({"title": "重复", "text": "内容", "shortcut": "/zc"}, 409, "劳动仲裁"),
])
def test_bad_replies_are_refused_in_words(zhang: TestClient, body: dict, status: int, words: str) -> None:
    response = zhang.post("/api/console/canned", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_a_lawyers_shortcut_may_repeat_another_lawyers(zhang: TestClient, li: TestClient) -> None:
    assert zhang.post("/api/console/canned", json={"text": "一", "shortcut": "gs"}).status_code == 201
    assert li.post("/api/console/canned", json={"text": "二", "shortcut": "gs"}).status_code == 201
    assert zhang.post("/api/console/canned", json={"text": "三", "shortcut": "gs"}).status_code == 409
    assert by_title(replies(zhang, q="gs"), "一")["text"] == "一"  # an empty title becomes the text's start


def test_office_staff_and_strangers_get_no_replies(runtime: Runtime, console: Console) -> None:
    create_lawyer(runtime.store, "desk", "office password", role="office", office="legal-aid-centre")
    desk = console.login("desk", "office password")
    assert desk.get("/api/console/canned").status_code == 403
    assert desk.get("/api/console/faq", params={"q": "工资"}).status_code == 403
    with TestClient(console.app) as stranger:
        assert stranger.get("/api/console/canned").status_code == 401
        assert stranger.post("/api/console/canned", json={"text": "x"}).status_code == 401


def test_faq_search_gives_answers_with_their_legal_basis(zhang: TestClient) -> None:
    response = zhang.get("/api/console/faq", params={"q": "拖欠工资"})
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert entries and entries[0]["topic"] == "labor"
    first = entries[0]
    assert "劳动合同法" in first["basis"] and first["legal_basis"][0]["law"]
    assert first["insert"] == f"{first['answer']}\n法律依据：{first['basis']}"
    assert zhang.get("/api/console/faq", params={"q": ""}).json()["entries"] == []
    assert zhang.get("/api/console/faq", params={"q": "zzqqxx"}).json()["entries"] == []
    assert zhang.get("/api/console/faq", params={"q": "字" * 101}).status_code == 422


def test_faq_search_reads_the_faq_files_when_the_bot_has_no_index(settings: Settings, store: Store) -> None:
    app = FastAPI()  # no runtime on app.state: the console router alone
    lawyer = Lawyer(id=1, username="zhang", display_name="张律师", password_hash="-", role="lawyer")
    app.include_router(canned.router(store, settings, lambda: lawyer))
    with TestClient(app) as client:
        entries = client.get("/faq", params={"q": "拖欠工资"}).json()["entries"]
    assert entries and entries[0]["topic"] == "labor" and entries[0]["basis"].startswith("《")
