"""What a hostile or broken client can send: every request is answered 4xx with a clear message, keeps
nothing, and opens nobody else's chat (issue 13, the request-handling findings)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import xmltodict
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, func, select

from bot.app import create_app
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram.webhook import SECRET_HEADER as TELEGRAM_SECRET
from bot.channels.telegram.webhook import WEBHOOK_PATH
from bot.channels.web import SECRET_HEADER
from bot.channels.wechat import WeChatChannel
from bot.channels.wechat.request import MAX_CLOCK_SKEW, forget_stale_pushes
from bot.engine import Incoming
from bot.guard import MAX_BODY
from bot.runtime import Runtime
from bot.store import Citizen, HandoffTicket, Message, WebChat, WeChatNonce
from handoff.auth import create_lawyer
from tests.fakes.telegram_api import FakeTelegramAPI, running
from tests.test_wechat import ACCOUNT, AES_KEY, TOKEN, sign

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")

QUESTION = "老板拖欠工资三个月了"


def count(runtime: Runtime, table: type[SQLModel]) -> int:
    with runtime.store.session() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


@pytest.fixture
def http(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_sweeper=False, channels=[])) as client:
        yield client


def start_chat(http: TestClient) -> tuple[str, dict[str, str]]:
    """Start a web chat as the page does: its messages URL and the header with its secret."""
    started = http.post("/api/chat")
    assert started.status_code == 201
    return f"/api/chat/{started.json()['id']}/messages", {SECRET_HEADER: started.json()["secret"]}


# ---- body limits -------------------------------------------------------------------------------------


def call_asgi(app: Any, path: str, chunks: list[bytes], content_type: str) -> tuple[int, dict[str, str], int]:
    """One request straight through ASGI, its body in chunks without a Content-Length: the status, the
    headers, and how many chunks the app read."""
    read = 0
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"content-type", content_type.encode()),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["headers"], read


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(runtime: Runtime, content_type: str) -> None:
    """Before: only a Content-Length header was checked, so a chunked 50 MB body was read whole and stored."""
    app = create_app(runtime, run_sweeper=False, channels=[])
    with TestClient(app) as http:
        url, _ = start_chat(http)
    chunk = b'{"text": "' + b"a" * 65_536
    status, headers, read = call_asgi(app, url, [chunk] * 16, content_type)  # 1 MB, no Content-Length
    assert status == 413
    assert read <= MAX_BODY // len(chunk) + 1  # refused once past the limit, not after reading it all
    assert headers["x-content-type-options"] == "nosniff"  # the security headers are still there
    assert count(runtime, Message) == 0


def test_a_streamed_body_over_the_limit_gets_a_clear_413(http: TestClient, runtime: Runtime) -> None:
    url, secret = start_chat(http)
    response = http.post(url, content=(b" " * 65_536 for _ in range(16)),
                         headers={**secret, "content-type": "application/json"})
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    assert count(runtime, Message) == 0


# ---- malformed input ---------------------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_and_nothing_is_stored(http: TestClient, runtime: Runtime) -> None:
    """Before: a 500 whose reply said the message was kept, though it was not."""
    url, secret = start_chat(http)
    body = b'{"text": "\\ud800 \xe8\x80\x81\xe6\x9d\xbf\xe6\x8b\x96\xe6\xac\xa0\xe5\xb7\xa5\xe8\xb5\x84"}'
    response = http.post(url, content=body, headers={**secret, "content-type": "application/json"})
    assert response.status_code == 422
    assert "surrogate" in response.json()["detail"] and "kept" not in response.text
    assert count(runtime, Message) == 0 and count(runtime, Citizen) == 0
    # The console's inputs go through the same check.
    login = http.post("/api/console/login", content=b'{"username": "\\udc00", "password": "x"}',
                      headers={"content-type": "application/json"})
    assert login.status_code == 422
    # A surrogate pair (an emoji written as two escapes) is one character, and welcome.
    emoji = http.post(url, content=b'{"text": "\\ud83d\\ude00"}', headers={**secret, "content-type": "application/json"})
    assert emoji.status_code == 200 and emoji.json()["messages"][0]["text"] == "😀"


def deep_json(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_deeply_nested_json_is_a_400_everywhere(http: TestClient, runtime: Runtime) -> None:
    url, secret = start_chat(http)
    for body in (deep_json(50_000), b'{"text": "hi", "x": ' + deep_json(100) + b"}"):
        response = http.post(url, content=body, headers={**secret, "content-type": "application/json"})
        assert response.status_code == 400 and "malformed JSON" in response.json()["detail"]
    assert count(runtime, Message) == 0


@pytest.fixture
def telegram(runtime: Runtime) -> Iterator[tuple[TestClient, TelegramChannel]]:
    with running(FakeTelegramAPI()) as fake:
        runtime.settings = runtime.settings.model_copy(update={
            "telegram_token": fake.token, "telegram_api_base": fake.base_url, "telegram_mode": "webhook",
            "telegram_webhook_url": "https://bot.example.org/webhooks/telegram"})
        channel = TelegramChannel(runtime)
        with TestClient(create_app(runtime, run_sweeper=False, channels=[channel])) as client:
            yield client, channel


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_deeply_nested_json_to_the_telegram_webhook_is_a_400(
        telegram: tuple[TestClient, TelegramChannel], runtime: Runtime, content_type: str) -> None:
    """Before: json.loads raised RecursionError and the webhook answered 500 (so Telegram retried it)."""
    client, channel = telegram
    body = b'{"update_id": 1, "message": ' + deep_json(50_000) + b"}"
    response = client.post(WEBHOOK_PATH, content=body,
                           headers={TELEGRAM_SECRET: channel.secret_token, "content-type": content_type})
    assert response.status_code == 400
    assert count(runtime, Message) == 0


def test_an_update_id_beyond_64_bits_to_the_telegram_webhook_is_a_400(
        telegram: tuple[TestClient, TelegramChannel], runtime: Runtime) -> None:
    """Before: stored as is, PostgreSQL's bigint overflowed and the webhook answered 500."""
    client, channel = telegram
    body = json.dumps({"update_id": 2**70, "message": {"message_id": 1, "date": 0, "text": "hi",
                                                      "chat": {"id": 1, "type": "private"}}})
    response = client.post(WEBHOOK_PATH, content=body,
                           headers={TELEGRAM_SECRET: channel.secret_token, "content-type": "application/json"})
    assert response.status_code == 400
    assert count(runtime, Message) == 0


def test_huge_numbers_in_the_url_are_a_422(http: TestClient, runtime: Runtime) -> None:
    """Before: ``?after=2**70`` overflowed SQLite's 64-bit integers: a 500."""
    url, secret = start_chat(http)
    assert http.get(url, params={"after": 2**63 - 1}, headers=secret).status_code == 200
    for after in (2**63, 2**70, -1):
        response = http.get(url, params={"after": after}, headers=secret)
        assert response.status_code == 422, after
    create_lawyer(runtime.store, "zhang", "correct horse", display_name="张律师")
    assert http.post("/api/console/login", json={"username": "zhang", "password": "correct horse"}).status_code == 200
    ticket = http.get(f"/api/console/tickets/{2**70}")  # SQLite overflowed, PostgreSQL was out of range: 500s
    assert ticket.status_code == 422 and "out of range" in ticket.json()["detail"]


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"text": "\xff\xfe\xe8"}', "application/json"),  # not UTF-8
    (b'{"text": "hi"}', "text/plain"),  # not declared as JSON
    (b"text=hi", "application/x-www-form-urlencoded"),
    (b"", "application/json"),
])
def test_unreadable_bodies_are_a_4xx_with_a_reason(http: TestClient, runtime: Runtime, body: bytes,
                                                    content_type: str) -> None:
    url, secret = start_chat(http)
    response = http.post(url, content=body, headers={**secret, "content-type": content_type})
    assert 400 <= response.status_code < 500 and response.json()["detail"]
    assert count(runtime, Message) == 0


# ---- web chat secrets --------------------------------------------------------------------------------


def test_a_web_chat_is_read_only_with_its_secret(http: TestClient, runtime: Runtime) -> None:
    """Before: the client-chosen id in the URL (and so in every access log) was enough to read a history."""
    url, secret = start_chat(http)
    assert http.post(url, json={"text": QUESTION}, headers=secret).status_code == 200
    mine = http.get(url, headers=secret)
    assert mine.status_code == 200 and mine.json()["messages"][0]["text"] == QUESTION

    other_url, other_secret = start_chat(http)
    refused = [http.get(url),  # no secret
               http.get(url, headers={SECRET_HEADER: "wrong"}),
               http.get(url, headers=other_secret),  # another chat's secret
               http.get(url.replace("/api/chat/", "/api/chat/x"), headers=secret),  # an unknown id
               http.post(url, json={"text": "我是别人"}),
               http.post(url, json={"text": "我是别人"}, headers=other_secret)]
    assert {(r.status_code, r.text) for r in refused} == {(403, refused[0].text)}  # all alike
    assert [m["text"] for m in http.get(url, headers=secret).json()["messages"] if m["direction"] == "in"] == [QUESTION]

    # Only the secret's hash is kept, and the secret never goes in a URL.
    with runtime.store.session() as session:
        chats = session.exec(select(WebChat)).all()
    assert len(chats) == 2
    assert hashlib.sha256(secret[SECRET_HEADER].encode()).hexdigest() in {c.secret_hash for c in chats}
    assert secret[SECRET_HEADER] not in url and len(secret[SECRET_HEADER]) >= 43


def test_a_chat_from_before_secrets_cannot_be_opened_by_its_id(http: TestClient, runtime: Runtime) -> None:
    legacy = "legacy-client-0001"  # the page used to pick its own id and send only that
    runtime.engine.handle(Incoming(channel="web", user_id=legacy, text=QUESTION))
    kept = count(runtime, Message)
    for secret in ("", "anything", legacy):
        response = http.get(f"/api/chat/{legacy}/messages", headers={SECRET_HEADER: secret})
        assert response.status_code == 403
    assert http.post(f"/api/chat/{legacy}/messages", json={"text": "hi"}).status_code == 403
    assert count(runtime, Message) == kept  # nothing added


# ---- WeChat replays ----------------------------------------------------------------------------------


def _serve_wechat(runtime: Runtime, aes_key: str | None) -> Iterator[tuple[TestClient, WeChatChannel]]:
    runtime.settings = runtime.settings.model_copy(update={
        "wechat_token": TOKEN, "wechat_aes_key": aes_key, "wechat_app_id": "wx0123456789abcdef" if aes_key else None})
    channel = WeChatChannel(runtime)
    with TestClient(create_app(runtime, run_sweeper=False, channels=[channel])) as client:
        yield client, channel


@pytest.fixture
def wechat(runtime: Runtime) -> Iterator[tuple[TestClient, WeChatChannel]]:
    yield from _serve_wechat(runtime, None)


@pytest.fixture
def safe_wechat(runtime: Runtime) -> Iterator[tuple[TestClient, WeChatChannel]]:
    yield from _serve_wechat(runtime, AES_KEY)


def wechat_text(openid: str, text: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def signed_query(ts: str, nonce: str) -> dict[str, str]:
    return {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


def stored_for(runtime: Runtime, openid: str) -> list[Message]:
    with runtime.store.session() as session:
        return list(session.exec(select(Message).join(Citizen, Citizen.id == Message.citizen_id)
                                 .where(Citizen.channel_user_id == openid)))


def test_a_replayed_wechat_query_with_another_body_is_refused(
        wechat: tuple[TestClient, WeChatChannel], runtime: Runtime) -> None:
    """Before: a captured signature/timestamp/nonce was good for any body for 300 s, so a message from a
    made-up openid was stored, a ticket opened and a reply sent."""
    client, _ = wechat
    query = signed_query(str(int(time.time())), "1234567890")
    genuine = wechat_text("o-genuine", QUESTION, 1001)
    assert client.post("/webhooks/wechat", params=query, content=genuine.encode()).status_code == 200
    forged = wechat_text("o-made-up", "我想找律师帮我打官司", 1002)
    refused = client.post("/webhooks/wechat", params=query, content=forged.encode())
    assert refused.status_code == 403 and refused.json()["detail"] == "replayed request"
    assert stored_for(runtime, "o-made-up") == [] and count(runtime, HandoffTicket) == 0
    # The very same push again (WeChat retrying) is answered but not processed twice.
    again = client.post("/webhooks/wechat", params=query, content=genuine.encode())
    assert again.status_code == 200 and again.text == "success"
    assert [m.text for m in stored_for(runtime, "o-genuine") if m.direction == "in"] == [QUESTION]


def test_a_replayed_wechat_push_is_not_processed_again_in_safe_mode(
        safe_wechat: tuple[TestClient, WeChatChannel], runtime: Runtime) -> None:
    client, channel = safe_wechat
    assert channel.crypto is not None
    ts, nonce = str(int(time.time())), "9876543210"
    sealed = xmltodict.parse(channel.crypto.encrypt_message(wechat_text("o-safe", QUESTION, 2001), nonce, ts))["xml"]
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>").encode()
    query = {**signed_query(ts, nonce), "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}
    first = client.post("/webhooks/wechat", params=query, content=body)
    assert first.status_code == 200 and "<Encrypt>" in first.text
    replay = client.post("/webhooks/wechat", params=query, content=body)
    assert replay.status_code == 200 and replay.text == "success"
    assert [m.text for m in stored_for(runtime, "o-safe") if m.direction == "in"] == [QUESTION]
    with runtime.store.session() as session:
        assert [(n.timestamp, n.nonce) for n in session.exec(select(WeChatNonce))] == [(int(ts), nonce)]


def test_wechat_nonces_are_kept_for_the_freshness_window_only(runtime: Runtime) -> None:
    now = time.time()
    with runtime.store.session() as session:
        session.add(WeChatNonce(timestamp=int(now) - MAX_CLOCK_SKEW - 120, nonce="old", body_hash="0" * 64))
        session.add(WeChatNonce(timestamp=int(now) - MAX_CLOCK_SKEW, nonce="fresh", body_hash="0" * 64))
        session.commit()
    forget_stale_pushes(runtime.store, now)
    with runtime.store.session() as session:
        assert [n.nonce for n in session.exec(select(WeChatNonce))] == ["fresh"]


def test_wechat_refuses_stale_timestamps_and_odd_nonces(wechat: tuple[TestClient, WeChatChannel],
                                                        runtime: Runtime) -> None:
    client, _ = wechat
    xml = wechat_text("o-late", QUESTION, 3001).encode()
    for ts, nonce in ((int(time.time()) - MAX_CLOCK_SKEW - 5, "1"), (int(time.time()), "n" * 65),
                      (10**15, "2")):
        assert client.post("/webhooks/wechat", params=signed_query(str(ts), nonce), content=xml).status_code == 403
    assert stored_for(runtime, "o-late") == []


# ---- the API's description ---------------------------------------------------------------------------


def test_api_docs_are_off_by_default_and_on_with_the_setting(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, run_sweeper=False, channels=[])) as http:
        for path in ("/api/docs", "/openapi.json", "/redoc"):
            assert http.get(path).status_code == 404, path
    runtime.settings = runtime.settings.model_copy(update={"api_docs": True})
    with TestClient(create_app(runtime, run_sweeper=False, channels=[])) as http:
        assert http.get("/api/docs").status_code == 200
        assert "/api/chat/{chat_id}/messages" in json.loads(http.get("/openapi.json").text)["paths"]
