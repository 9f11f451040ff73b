"""The web chat API and the lawyer console API, in process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.runtime import Runtime
from handoff.auth import create_lawyer


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_sweeper=False)) as c:
        yield c


@pytest.fixture
def chat_url(client: TestClient) -> str:
    """A web chat started the way the page starts one; the client sends its secret from now on."""
    started = client.post("/api/chat").json()
    client.headers["X-Chat-Secret"] = started["secret"]
    return f"/api/chat/{started['id']}/messages"


@pytest.fixture
def lawyer_client(runtime: Runtime, client: TestClient) -> TestClient:
    create_lawyer(runtime.store, "zhang", "correct horse", display_name="张律师")
    response = client.post("/api/console/login", json={"username": "zhang", "password": "correct horse"})
    assert response.status_code == 200
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]  # as the console page sends it
    return client


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")


def test_chat_page_is_served_in_chinese(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "lang=\"zh" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_pages_services_menu_sends_the_engines_payloads(client: TestClient, chat_url: str) -> None:
    from bot.actions import SERVICES_MENU

    page = client.get("/").text
    assert 'href="/static/menu.css"' in page and client.get("/static/menu.css").status_code == 200
    assert 'aria-controls="service-menu"' in page and 'aria-expanded="false"' in page
    assert re.findall(r'data-payload="([^"]+)"', page) == list(SERVICES_MENU)
    mine = client.post(chat_url, json={"payload": "/mine", "lang": "zh"}).json()["messages"]
    assert mine[0]["text"] == "我的咨询" and mine[-1]["text"].startswith("暂无记录")


def test_post_message_returns_stored_message_and_reply(client: TestClient, chat_url: str) -> None:
    response = client.post(chat_url, json={"text": "老板拖欠工资三个月了", "lang": "zh"})
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert messages[0]["direction"] == "in" and messages[0]["text"] == "老板拖欠工资三个月了"
    assert any("法律依据" in m["text"] for m in messages)
    assert set(messages[0]) == {"id", "direction", "sender", "kind", "text", "buttons", "created_at"}


def test_history_survives_and_pages_with_after(client: TestClient, chat_url: str) -> None:
    client.post(chat_url, json={"text": "你好"})
    history = client.get(chat_url).json()
    assert len(history["messages"]) >= 3
    last = history["messages"][-1]["id"]
    assert client.get(chat_url, params={"after": last}).json()["messages"] == []


def test_button_payload_is_accepted(client: TestClient, chat_url: str) -> None:
    client.post(chat_url, json={"text": "老板拖欠工资三个月了"})
    response = client.post(chat_url, json={"payload": "/helpful"})
    assert "很高兴" in response.json()["messages"][-1]["text"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/chat/short/messages", {"text": "hi"}, 403),
        ("/api/chat/<script>alert1/messages", {"text": "hi"}, 403),
        ("CHAT", {"text": "x" * 20_001}, 422),
        ("CHAT", {"text": "hi", "lang": "fr"}, 422),
    ],
)
def test_bad_requests_get_clear_errors(client: TestClient, chat_url: str, path: str, body: dict, status: int) -> None:
    assert client.post(chat_url if path == "CHAT" else path, json=body).status_code == status


def test_oversized_body_is_refused_before_parsing(client: TestClient, chat_url: str) -> None:
    response = client.post(chat_url, content=b"{" + b" " * 300_000 + b"}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_malformed_json_is_a_422(client: TestClient, chat_url: str) -> None:
    response = client.post(chat_url, content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_console_requires_login(client: TestClient) -> None:
    assert client.get("/api/console/queue").status_code == 401
    assert client.post("/api/console/login", json={"username": "x", "password": "y"}).status_code == 401


def test_console_claim_reply_resolve(lawyer_client: TestClient, chat_url: str) -> None:
    c = lawyer_client
    c.post(chat_url, json={"text": "我想找律师帮我打官司，<b>急</b>"})
    [ticket] = c.get("/api/console/queue").json()["tickets"]
    assert ticket["status"] == "waiting" and ticket["channel"] == "web"
    assert c.post(f"/api/console/tickets/{ticket['id']}/claim").status_code == 200
    assert c.post(f"/api/console/tickets/{ticket['id']}/claim").status_code == 409
    detail = c.get(f"/api/console/tickets/{ticket['id']}").json()
    assert detail["packet"]["first_message"].startswith("我想找律师")
    assert c.post(f"/api/console/tickets/{ticket['id']}/reply", json={"text": "您好，我是张律师"}).status_code == 200
    assert c.post(f"/api/console/tickets/{ticket['id']}/reply", json={"text": "  "}).status_code == 409
    history = c.get(chat_url).json()
    assert history["status"] == "with_lawyer"
    assert any(m["sender"] == "lawyer" and m["text"] == "您好，我是张律师" for m in history["messages"])
    bad = c.post(f"/api/console/tickets/{ticket['id']}/resolve", json={"outcome": "answered", "summary": "已解答其问题"})
    assert bad.status_code == 409
    done = c.post(f"/api/console/tickets/{ticket['id']}/resolve",
                  json={"outcome": "resolved_by_lawyer", "summary": "已解答其问题"})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert c.get(chat_url).json()["status"] == "closed"


def test_unknown_ticket_is_a_404(lawyer_client: TestClient) -> None:
    assert lawyer_client.get("/api/console/tickets/999").status_code == 404
    assert lawyer_client.post("/api/console/tickets/999/claim").status_code == 404


def test_console_notes_transfer_canned_and_admin_audit(runtime: Runtime, lawyer_client: TestClient, chat_url: str) -> None:
    c = lawyer_client
    create_lawyer(runtime.store, "li", "battery staple", display_name="李律师")
    create_lawyer(runtime.store, "boss", "admin password", role="admin")
    c.post(chat_url, json={"payload": "/lawyer"})
    [ticket] = c.get("/api/console/queue").json()["tickets"]
    c.post(f"/api/console/tickets/{ticket['id']}/claim")
    assert c.post(f"/api/console/tickets/{ticket['id']}/notes", json={"text": "<b>私密</b>备注"}).status_code == 200
    notes = c.get(f"/api/console/tickets/{ticket['id']}/notes").json()["notes"]
    assert notes[0]["text"] == "<b>私密</b>备注"
    history = c.get(chat_url).json()["messages"]
    assert all("私密" not in m["text"] for m in history)  # notes never reach the citizen
    assert c.get("/api/console/canned").json()["replies"]
    roster = {p["username"]: p for p in c.get("/api/console/lawyers").json()["lawyers"]}
    assert roster["zhang"]["online"] and not roster["li"]["online"]
    assert c.post(f"/api/console/tickets/{ticket['id']}/transfer", json={"to": "nobody"}).status_code == 409
    moved = c.post(f"/api/console/tickets/{ticket['id']}/transfer", json={"to": "li"}).json()
    assert moved["lawyer"] == "li"
    assert c.get("/api/console/audit").status_code == 403  # lawyers cannot read the audit log
    c.post("/api/console/logout")
    c.headers["X-CSRF-Token"] = c.post("/api/console/login", json={"username": "boss", "password": "admin password"}).json()["csrf_token"]
    actions = [e["action"] for e in c.get("/api/console/audit").json()["entries"]]
    assert {"login", "claim", "note", "transfer"} <= set(actions)


def test_service_hours() -> None:
    import datetime as dt

    from bot.settings import Settings
    from handoff.queue import in_service_hours

    settings = Settings(service_hours="09:00-18:00", service_days="1,2,3,4,5")
    assert in_service_hours(settings, dt.datetime(2026, 11, 27, 10, 0))  # a Friday morning
    assert not in_service_hours(settings, dt.datetime(2026, 11, 27, 20, 0))
    assert not in_service_hours(settings, dt.datetime(2026, 11, 28, 10, 0))  # Saturday
    assert in_service_hours(Settings(service_hours="nonsense"), dt.datetime(2026, 11, 28, 3, 0))
