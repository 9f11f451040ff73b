"""Logs and data at rest: no log line carries a citizen's numbers, ids or the app's secrets; the database
is its owner's alone and keeps no copy of what was deleted; old conversations' texts are erased."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import logging.config
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from bot import redact, retention
from bot.app import create_app, housekeeping
from bot.channels import web
from bot.channels.telegram import SECRET_HEADER, TelegramChannel
from bot.channels.testing import TestChat
from bot.channels.wechat import WeChatChannel
from bot.engine import Incoming
from bot.redact import LINE, RedactingFormatter, log_config
from bot.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.store import AuditEntry, Citizen, Conversation, Message, WebChat, utcnow
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_api import running as telegram_running
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.fakes.wechat_api import running as wechat_running

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")


def id_number(first17: str) -> str:
    """A made-up resident ID number with a valid GB 11643 check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


NAME = "王小明"
ID_CARDS = [id_number("11010519491231002"), id_number("44030419900101123"), id_number("32010619851120456")]
PHONES = ["13812345678", "15900001111", "+86 186-1234-5678"]
CARDS = ["6222021234567890123", "6228480402564890018", "4111 1111 1111 1111"]
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
TELEGRAM_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
WECHAT_TOKEN = "wechat-token-for-data-security"
CORPUS = [*ID_CARDS, *PHONES, *CARDS, OPENID]
TEXT = f"我叫{NAME}，身份证{ID_CARDS[0]}，电话{PHONES[0]}，工资卡{CARDS[0]}，老板拖欠工资三个月了"
FREE_TEXT = "拖欠工资三个月"  # what the citizen wrote, beyond the numbers


def leaks(output: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [value for value in (*CORPUS, TELEGRAM_TOKEN, WECHAT_TOKEN, *extra) if value in output]


def test_the_corpus_has_valid_id_numbers() -> None:
    assert ID_CARDS[0] == "11010519491231002X"  # the standard's own example
    for value in CORPUS:
        assert value not in redact.redact(f"内容{value}内容")


@pytest.mark.parametrize("text", [
    '127.0.0.1:5555 - "POST /webhooks/wechat?signature=5f3e&timestamp=1700000000&nonce=38171&openid=X HTTP/1.1" 200',
    "GET https://api.telegram.org/bot123456789:AAFakeTokenForTestsOnly_abcdefghijk/getMe",
    '"GET /api/chat/Zk3-q9_8aB7c6d5e4/messages?after=3 HTTP/1.1" 200',
    "headers {'x-chat-secret': 'qQ1_aZ9-longSecretValue', 'x-telegram-bot-api-secret-token': 'abcdef0123'}",
])
def test_redact_masks_ids_tokens_and_query_secrets(text: str) -> None:
    cleaned = redact.redact(text)
    for secret in ("5f3e", "38171", "openid=X", "AAFakeToken", "Zk3-q9_8aB7c6d5e4", "qQ1_aZ9", "abcdef0123"):
        assert secret not in cleaned
    assert "timestamp=1700000000" in redact.redact(text) or "timestamp" not in text


def test_redact_masks_configured_secrets() -> None:
    redact.add_secrets("a-configured-webhook-secret-value", None, "short")
    assert redact.redact("x a-configured-webhook-secret-value y short") == "x [SECRET] y short"


# ---- the logging configuration -------------------------------------------------------------------


@pytest.fixture
def configured_logging() -> Iterator[io.StringIO]:
    """The project's logging configuration (what `legalbot serve` gives uvicorn), writing to a buffer."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", *redact.QUIET]
    saved = {n: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
             for n in names for lg in [logging.getLogger(n)]}
    stream = io.StringIO()
    logging.config.dictConfig(log_config(logging.DEBUG, stream=stream))
    registered = set(redact._secrets)  # secrets other tests' apps registered would mask first, as [SECRET]
    redact._secrets.clear()
    try:
        yield stream
    finally:
        redact._secrets.update(registered)
        for n, (handlers, level, propagate, disabled) in saved.items():
            lg = logging.getLogger(n)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


def test_uvicorn_access_and_error_lines_are_redacted(configured_logging: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    # uvicorn's own access-line shape: client, method, path with query, HTTP version, status
    access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.5:41000", "POST",
                f"/webhooks/wechat?signature=9a8b7c&timestamp=1700000000&nonce=1234567&openid={OPENID}", "1.1", 200)
    access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.5:41000", "GET",
                "/api/chat/Zk3-q9_8aB7c6d5e4Xy/messages?after=0", "1.1", 200)
    access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.5:41000", "POST", f"/bot{TELEGRAM_TOKEN}/x", "1.1", 404)
    try:
        raise RuntimeError(f"cannot parse {TEXT} from {OPENID}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
    logging.getLogger("bot.engine").debug("citizen wrote %s", TEXT, stack_info=True)
    output = configured_logging.getvalue()
    assert leaks(output, ("9a8b7c", "1234567", "Zk3-q9_8aB7c6d5e4Xy", NAME + "，身份证1")) == []
    assert "Traceback" in output and "[ID]" in output and "[PHONE]" in output and "[CARD]" in output
    assert "[OPENID]" in output and "[TOKEN]" in output and "/api/chat/[CLIENT]/messages" in output
    assert output.count("uvicorn.access") == 3


def test_a_traceback_is_redacted_by_the_formatter_itself() -> None:
    """A filter sees the record before the traceback is formatted; the formatter sees the final text."""
    record = None
    try:
        raise ValueError(f"身份证{ID_CARDS[1]} 电话{PHONES[1]} 卡{CARDS[1]}")
    except ValueError:
        record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    text = RedactingFormatter(LINE).format(record)
    assert "ValueError" in text and leaks(text) == []


# ---- every channel -------------------------------------------------------------------------------


def _web_chat(client: TestClient) -> tuple[str, dict[str, str]]:
    """A web chat's id and the headers that open it (a secret, where the chat API issues one)."""
    started = client.post("/api/chat")
    if started.status_code == 201:
        chat = started.json()
        return chat["id"], {"X-Chat-Secret": chat["secret"]}
    return "web-" + uuid.uuid4().hex[:16], {}


def test_the_corpus_through_every_channel_leaves_no_trace_in_the_logs(
        runtime: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.handler.setFormatter(RedactingFormatter(LINE))  # what the project's handlers print
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "bot", "handoff", "telegram", "wechatpy"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts = [TEXT, *(f"我的电话是{p}，卡号{c}，身份证{i}" for p, c, i in zip(PHONES, CARDS, ID_CARDS, strict=True))]

    with running_fakes() as (telegram_api, wechat_api):
        settings = runtime.settings.model_copy(update={
            "telegram_token": telegram_api.token, "telegram_api_base": telegram_api.base_url,
            "telegram_mode": "webhook", "telegram_webhook_url": "https://bot.example.org/webhooks/telegram",
            "wechat_token": WECHAT_TOKEN, "wechat_app_id": wechat_api.app_id,
            "wechat_app_secret": wechat_api.app_secret, "wechat_api_base": wechat_api.base_url})
        runtime.engine.settings = settings
        rt = dataclasses.replace(runtime, settings=settings)
        telegram, wechat = TelegramChannel(rt), WeChatChannel(rt)
        with TestClient(create_app(rt, run_sweeper=False, channels=[telegram, wechat]),
                        raise_server_exceptions=False) as client:
            chat_id, headers = _web_chat(client)
            monkeypatch.setattr(web, "opens", lambda *args: True, raising=False)  # the secret has tests of its own
            for n, text in enumerate(texts):
                assert client.post(f"/api/chat/{chat_id}/messages", json={"text": text},
                                   headers=headers).status_code == 200
                update = telegram_api.text_update(424242, text)
                assert client.post("/webhooks/telegram", json=update,
                                   headers={SECRET_HEADER: telegram.secret_token}).status_code == 200
                assert wechat_push(client, text, n).status_code == 200
            assert client.get(f"/api/chat/{chat_id}/messages", headers=headers).status_code == 200

            def broken(incoming: Incoming) -> None:  # an exception carrying what the citizen wrote
                raise RuntimeError(f"cannot parse {incoming.text!r} from {incoming.user_id}")

            monkeypatch.setattr(rt.engine, "handle", broken)
            assert client.post(f"/api/chat/{chat_id}/messages", json={"text": TEXT},
                               headers=headers).status_code == 500
            time.sleep(0.5)  # the channels' replies go out through their fakes
    assert len(caplog.records) > 5
    assert leaks(caplog.text, (telegram.secret_token,)) == [], caplog.text


class running_fakes:  # noqa: N801 (reads as a context manager)
    def __enter__(self) -> tuple[FakeTelegramAPI, FakeWeChatAPI]:
        self._telegram = telegram_running(FakeTelegramAPI())
        self._wechat = wechat_running(FakeWeChatAPI())
        return self._telegram.__enter__(), self._wechat.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._wechat.__exit__(*exc)
        self._telegram.__exit__(*exc)


def wechat_push(client: TestClient, text: str, n: int) -> httpx.Response:
    """A signed plaintext push as WeChat sends it, the sender's openid in the query string too."""
    import hashlib

    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, ts, nonce])).encode()).hexdigest()
    xml = (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{OPENID}]]>"
           f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{int(ts) * 1000 + n}</MsgId></xml>")
    return client.post("/webhooks/wechat", params={"signature": signature, "timestamp": ts, "nonce": nonce,
                                                   "openid": OPENID},
                       content=xml.encode(), headers={"content-type": "text/xml"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = """
import sys
from bot.engine import Engine

def broken(self, incoming):
    raise RuntimeError(f"cannot parse {incoming.text}")

Engine.handle = broken  # every message fails inside the request handler, its text in the exception
import bot.channels.web
bot.channels.web.opens = lambda *args: True  # whatever the chat's secret, the handler is reached
from bot.cli import app
app(["serve", "--port", sys.argv[1]])
"""


def test_a_real_uvicorn_server_logs_nothing_personal(built_dir: Path, tmp_path: Path) -> None:
    """`legalbot serve` in a subprocess, with its own logging: access lines and tracebacks on stderr."""
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    for name in ("models", "index"):
        (data / name).symlink_to(built_dir / name)
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = _free_port()
    env = {**os.environ, "LEGALBOT_DATA_DIR": str(data), "LEGALBOT_KB_SEMANTIC": "false",
           "LEGALBOT_BURST_WINDOW_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("LEGALBOT_DATABASE_URL", None)
    log_file = tmp_path / "stderr.log"
    with log_file.open("wb") as stderr:
        server = subprocess.Popen([sys.executable, str(script), str(port)], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        # uvicorn closes a connection whose request raised: one connection per request
        with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as http:
            started = http.post("/api/chat")
            chat_id = started.json()["id"] if started.status_code == 201 else "web-" + uuid.uuid4().hex[:16]
            headers = {"X-Chat-Secret": started.json()["secret"]} if started.status_code == 201 else {}
            for text in (TEXT, f"电话{PHONES[1]} 卡{CARDS[1]} 身份证{ID_CARDS[1]}"):
                assert http.post(f"/api/chat/{chat_id}/messages", json={"text": text},
                                 headers=headers).status_code == 500
            for path in (f"/api/chat/{chat_id}/messages",
                         f"/webhooks/wechat?signature=9a8b7c6d&timestamp=1700000000&nonce=7654321&openid={OPENID}"
                         "&echostr=echo5678", f"/bot{TELEGRAM_TOKEN}/sendMessage"):
                http.get(path, headers=headers)  # only their access lines matter here
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log_file.read_text()
    assert "Exception in ASGI application" in output and "Traceback" in output, output
    assert "uvicorn.access" in output and "/api/chat/[CLIENT]/messages" in output
    # (a name is not a pattern: the citizen's name in a traceback is the limit of redaction)
    assert leaks(output, (chat_id, "9a8b7c6d", "7654321", "echo5678")) == [], output
    assert stat.S_IMODE((data / "legalbot.db").stat().st_mode) == 0o600


# ---- files at rest -------------------------------------------------------------------------------


def test_the_data_dir_and_database_files_are_their_owners_alone(built_dir: Path, tmp_path: Path) -> None:
    from knowledge_base.index import KnowledgeBase

    data = tmp_path / "fresh" / "var"
    runtime = build_runtime(Settings(data_dir=data, burst_window_seconds=0), backend=_backend(built_dir),
                            kb=KnowledgeBase(built_dir / "index"))
    try:
        TestChat(runtime.engine, user_id="citizen-files").say("你好")
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for suffix in ("", "-wal", "-shm"):
            path = data / f"legalbot.db{suffix}"
            assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600, suffix
    finally:
        runtime.store.dispose()


def test_an_existing_readable_database_is_tightened(tmp_path: Path, built_dir: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    db = shared / "old.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    runtime = build_runtime(Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{db}"),
                            backend=_backend(built_dir), kb=_kb(built_dir))
    runtime.store.dispose()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # a directory that was there is not ours to change


def _kb(built_dir: Path):  # type: ignore[no-untyped-def]
    from knowledge_base.index import KnowledgeBase

    return KnowledgeBase(built_dir / "index")


def _backend(built_dir: Path):  # type: ignore[no-untyped-def]
    from nlu import builtin

    return builtin.BuiltinBackend(built_dir / "models" / "nlu")


@pytest.fixture
def sqlite_runtime(built_dir: Path, tmp_path: Path) -> Iterator[Runtime]:
    from knowledge_base.index import KnowledgeBase

    settings = Settings(data_dir=built_dir, database_url=f"sqlite:///{tmp_path / 'legalbot.db'}",
                        service_hours="00:00-23:59:59.999999", service_days="1,2,3,4,5,6,7", burst_window_seconds=0)
    rt = build_runtime(settings, backend=_backend(built_dir), kb=KnowledgeBase(built_dir / "index"))
    yield rt
    rt.store.dispose()


def test_a_deleted_citizen_leaves_no_copy_in_the_database_files(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    chat = TestChat(sqlite_runtime.engine, user_id="citizen-" + uuid.uuid4().hex[:8])
    chat.say(TEXT)
    chat.say("我想找律师")
    db = tmp_path / "legalbot.db"
    on_disk = db.read_bytes() + (tmp_path / "legalbot.db-wal").read_bytes()
    assert NAME.encode() in on_disk  # the test would see it
    chat.press("/delete_my_data")
    chat.press("/delete_my_data:confirm")
    for path in (db, tmp_path / "legalbot.db-wal"):
        data = path.read_bytes() if path.exists() else b""
        for value in (NAME, FREE_TEXT, ID_CARDS[0], PHONES[0], CARDS[0], chat.user_id):
            assert value.encode() not in data, (path.name, value)
    with sqlite_runtime.store.session() as session:  # and the anonymous counts stayed
        assert session.exec(select(Conversation)).all()


def test_a_deleted_citizen_is_gone_from_every_table(runtime: Runtime) -> None:
    chat = TestChat(runtime.engine, user_id="citizen-" + uuid.uuid4().hex[:8])
    chat.say(TEXT)
    chat.press("/delete_my_data")
    chat.press("/delete_my_data:confirm")
    with runtime.store.session() as session:
        rows = [repr(r) for model in (Citizen, Conversation, Message) for r in session.exec(select(model)).all()]
    assert not [r for r in rows if NAME in r or chat.user_id in r or ID_CARDS[0] in r]


# ---- retention -----------------------------------------------------------------------------------


def _age(runtime: Runtime, user_id: str, days: float, close: bool) -> int:
    """Move a citizen's conversation ``days`` back; close it then if ``close``. Returns its id."""
    then = utcnow() - dt.timedelta(days=days)
    with runtime.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel_user_id == user_id)).one()
        citizen.created_at = then
        session.add(citizen)
        [conversation] = session.exec(select(Conversation).where(Conversation.citizen_id == citizen.id)).all()
        values = {"opened_at": then, "last_activity_at": then}
        if close:
            values |= {"status": "closed", "closed_at": then, "outcome": "answered", "close_reason": "idle"}
        session.execute(update(Conversation).where(col(Conversation.id) == conversation.id).values(**values))
        session.commit()
        assert conversation.id is not None
        return conversation.id


def _messages(runtime: Runtime, conversation_id: int) -> list[Message]:
    with runtime.store.session() as session:
        return list(session.exec(select(Message).where(Message.conversation_id == conversation_id)
                                 .order_by(col(Message.id))).all())


def test_retention_erases_old_closed_conversations_but_keeps_the_counts(runtime: Runtime) -> None:
    chats = {name: TestChat(runtime.engine, user_id=f"{name}-{uuid.uuid4().hex[:8]}")
             for name in ("old", "recent", "open")}
    for chat in chats.values():
        chat.say(TEXT)
    old = _age(runtime, chats["old"].user_id, 200, close=True)
    recent = _age(runtime, chats["recent"].user_id, 20, close=True)
    still_open = _age(runtime, chats["open"].user_id, 200, close=False)  # idle, but not closed yet
    before = {c: len(_messages(runtime, c)) for c in (old, recent, still_open)}
    with runtime.store.session() as session:
        old_conversation = session.get(Conversation, old)
        assert old_conversation is not None
        kept = (old_conversation.service, old_conversation.topic, old_conversation.outcome)

    assert retention.erase_expired(runtime.store, 180, batch=1) == 1
    assert retention.erase_expired(runtime.store, 180) == 0  # idempotent

    erased = _messages(runtime, old)
    assert len(erased) == before[old] and all(m.text == "" for m in erased)
    assert all("text" not in (m.decision or {}) for m in erased)
    assert not any(NAME in repr(m) or ID_CARDS[0] in repr(m) for m in erased)
    assert any(m.decision and m.decision.get("topic") for m in erased)  # what was decided stays countable
    for conversation_id in (recent, still_open):
        assert any(NAME in m.text for m in _messages(runtime, conversation_id))
    with runtime.store.session() as session:
        conversation = session.get(Conversation, old)
        assert conversation is not None and (conversation.service, conversation.topic, conversation.outcome) == kept
        ids = {c.channel_user_id for c in session.exec(select(Citizen)).all()}
        assert chats["old"].user_id not in ids and chats["recent"].user_id in ids and chats["open"].user_id in ids
        [audit] = session.exec(select(AuditEntry).where(AuditEntry.action == "retention_erased")).all()
        assert audit.detail["conversations"] == 1 and audit.detail["citizens"] == 1


def test_retention_zero_keeps_everything_and_the_sweeper_enforces_the_setting(runtime: Runtime) -> None:
    chat = TestChat(runtime.engine, user_id="kept-" + uuid.uuid4().hex[:8])
    chat.say(TEXT)
    conversation = _age(runtime, chat.user_id, 4000, close=True)
    assert retention.erase_expired(runtime.store, 0) == 0
    assert any(NAME in m.text for m in _messages(runtime, conversation))

    runtime.settings.retention_days = 30
    retention._next_pass.pop(runtime.store.url, None)
    housekeeping(runtime)
    assert all(m.text == "" for m in _messages(runtime, conversation))


def test_retention_drops_web_chat_keys_nobody_holds(runtime: Runtime) -> None:
    old, used = web.start_chat(runtime.store), web.start_chat(runtime.store)
    fresh = web.start_chat(runtime.store)
    TestChat(runtime.engine, user_id=used.id, channel="web").say(TEXT)
    with runtime.store.session() as session:
        session.execute(update(WebChat).where(col(WebChat.id).in_([old.id, used.id]))
                        .values(created_at=utcnow() - dt.timedelta(days=200)))
        session.commit()
    retention.erase_expired(runtime.store, 180)
    with runtime.store.session() as session:
        left = {c.id for c in session.exec(select(WebChat)).all()}
    assert old.id not in left and {used.id, fresh.id} <= left  # the citizen still holds the used one
    assert web.opens(runtime.store, used.id, used.secret) and not web.opens(runtime.store, old.id, old.secret)
