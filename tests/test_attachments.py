"""Materials an office asked for, sent as photos or files on Telegram, WeChat and the web page
(services/attachments.py): fetched only while an application waits for them, checked by their first bytes,
kept 0600 under the data folder, linked to the application, and deleted with the citizen's data."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot import actions, retention
from bot.app import create_app
from bot.channels.telegram import TelegramChannel
from bot.channels.testing import TestChat
from bot.channels.wechat import WeChatChannel
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Application, ApplicationEvent, Attachment, Message, utcnow
from services import applications as apps
from services import attachments
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_api import running as telegram_running
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.test_desk import application, office_step, submit_legal_aid
from tests.test_telegram import CHAT, configured, feed, with_channel
from tests.test_wechat import TOKEN, Follower, WeChatServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: files and their checks do not depend on the database (the rows' lifecycle is tested on both
    in tests/test_applications.py)."""
    return f"sqlite:///{tmp_path / 'legalbot.db'}"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + secrets.token_bytes(2000)
#: A text file named like a photo.
NOT_A_PHOTO = b"this is a plain text file, renamed to look like a photo\n"


# ---- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def settings(built_dir: Path, database_url: str, api: FakeWeChatAPI) -> Settings:
    """The shared test settings plus a WeChat account whose API is the fake server."""
    return Settings(data_dir=built_dir, database_url=database_url, service_hours="00:00-23:59:59.999999",
                    service_days="1,2,3,4,5,6,7", burst_window_seconds=0, wechat_token=TOKEN,
                    wechat_app_id=api.app_id, wechat_app_secret=api.app_secret, wechat_api_base=api.base_url)


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with telegram_running(FakeTelegramAPI()) as api:
        yield api


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_sweeper=False, channels=[])) as c:
        yield c


def awaiting_materials(runtime: Runtime, channel: str, user_id: str) -> Application:
    """A submitted legal-aid application of this citizen, for which the office asked for materials."""
    chat = TestChat(runtime.engine, user_id=user_id, channel=channel)
    submit_legal_aid(chat)
    found = application(runtime, chat)
    assert found.id is not None
    office_step(runtime, found.id, "ask_materials", checklist=["劳动合同", "工资条"])
    return found


def messages_of(runtime: Runtime) -> list[Message]:
    with runtime.store.session() as session:
        return list(session.exec(select(Message)).all())


def stored(runtime: Runtime) -> list[Attachment]:
    with runtime.store.session() as session:
        return list(session.exec(select(Attachment)).all())


def file_of(runtime: Runtime, attachment: Attachment) -> Path:
    return attachments.open_file(runtime.settings.data_dir, attachment)


def assert_kept_for(runtime: Runtime, found: Application, content: bytes) -> Attachment:
    """One attachment, linked to the application and its message, on disk 0600 in 0700 folders."""
    [kept] = stored(runtime)
    assert kept.application_id == found.id and kept.message_id is not None
    assert kept.kind == "photo" and kept.content_type == "image/jpeg" and kept.size == len(content)
    assert re.fullmatch(r"\d{4}-\d{2}/[0-9a-f]{32}", kept.path)
    path = file_of(runtime, kept)
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    with runtime.store.session() as session:
        event = session.exec(select(ApplicationEvent).where(ApplicationEvent.application_id == found.id,
                                                            ApplicationEvent.kind == "materials_received")).one()
        message = session.get(Message, kept.message_id)
        assert event.detail["attachment_id"] == kept.id
        assert message is not None and message.decision and message.decision["attachment"] == kept.id
        assert [a.id for a in attachments.for_application(session, found.id or 0)] == [kept.id]
    return kept


# ---- Telegram ---------------------------------------------------------------------------------------


def test_a_photo_on_telegram_reaches_the_office(runtime: Runtime, fake: FakeTelegramAPI, tmp_path: Path) -> None:
    rt = configured(runtime, fake, runtime.settings.city_file)
    found = awaiting_materials(rt, "telegram", str(CHAT))
    fake.add_file("contract-photo", JPEG)

    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.media_update(CHAT, "photo", file_id="contract-photo", file_size=len(JPEG)))

    with_channel(rt, scenario)
    assert fake.downloads == ["documents/file_0"]
    assert [c.params["file_id"] for c in fake.calls_to("getFile")] == ["contract-photo"]  # the largest size
    assert any("已收到" in text for text in fake.texts(CHAT))
    assert_kept_for(rt, found, JPEG)


def test_telegram_fetches_nothing_unless_materials_are_awaited_and_refuses_bad_files(
        runtime: Runtime, fake: FakeTelegramAPI) -> None:
    rt = configured(runtime, fake, runtime.settings.city_file)
    fake.add_file("photo-1", JPEG)
    fake.add_file("renamed", NOT_A_PHOTO)
    limit = rt.settings.attachment_max_bytes

    async def unawaited(channel: TelegramChannel) -> None:
        await feed(channel, fake.media_update(CHAT, "photo", file_id="photo-1", file_size=len(JPEG)))

    with_channel(rt, unawaited)
    assert fake.calls_to("getFile") == [] and fake.downloads == [] and stored(rt) == []
    assert "只能看懂文字" in fake.texts(CHAT)[-1]  # answered as before

    awaiting_materials(rt, "telegram", str(CHAT))
    fake.calls.clear()

    async def refused(channel: TelegramChannel) -> None:
        await feed(channel, fake.media_update(CHAT, "photo", file_id="photo-1", file_size=limit + 1))
        await feed(channel, fake.media_update(CHAT, "document", file_id="renamed", file_size=len(NOT_A_PHOTO),
                                              file_name="身份证.jpg"))

    before = len(messages_of(rt))
    with_channel(rt, refused)
    assert [c.params["file_id"] for c in fake.calls_to("getFile")] == ["renamed"]  # the large one: never asked for
    assert fake.downloads == ["documents/file_0"]
    told = fake.texts(CHAT)
    assert told[-2] == attachments.too_large(limit) == "文件太大，请不要超过10MB"
    assert told[-1] == attachments.NOT_ACCEPTED == "只能发送照片（JPG、PNG、WebP）或PDF文件"
    assert stored(rt) == [] and len(messages_of(rt)) == before  # neither refused file left anything


# ---- WeChat -----------------------------------------------------------------------------------------


@pytest.fixture
def wechat(runtime: Runtime) -> Iterator[WeChatServer]:
    runtime.engine.decide("老板拖欠工资三个月了")  # load the models now, not inside a 4-second reply
    channel = WeChatChannel(runtime)
    with TestClient(create_app(runtime, run_sweeper=False, channels=[channel])) as http:
        yield WeChatServer(http, channel, None)


def test_an_image_on_wechat_reaches_the_office_only_when_awaited(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI) -> None:
    api.add_media("media-1", JPEG)
    stranger = wechat.follower()
    assert stranger.send_image().status_code == 200
    assert api.media_downloads == [] and stored(runtime) == []
    [sent] = [m.decision or {} for m in messages_of(runtime) if m.direction == "in"]
    assert sent["media"] == "image" and "attachment" not in sent  # answered as before

    citizen = Follower(wechat, stranger.openid)
    found = awaiting_materials(runtime, "wechat", citizen.openid)
    api.add_media("media-1", NOT_A_PHOTO)
    assert citizen.text_of(citizen.send_image()) == attachments.NOT_ACCEPTED
    assert stored(runtime) == []

    api.add_media("media-1", JPEG)
    assert "已收到" in citizen.text_of(citizen.send_image())
    assert api.media_downloads == ["media-1", "media-1"]
    assert_kept_for(runtime, found, JPEG)


# ---- the web page -----------------------------------------------------------------------------------


def start(client: TestClient) -> tuple[str, str]:
    started = client.post("/api/chat").json()
    return started["id"], started["secret"]


def upload(client: TestClient, chat_id: str, secret: str | None, content: bytes,
           filename: str | None = None) -> Any:  # the TestClient's response
    headers = {"Content-Type": "application/octet-stream"}
    if secret is not None:
        headers["X-Chat-Secret"] = secret
    if filename is not None:
        headers["X-Filename"] = filename
    return client.post(f"/api/chat/{chat_id}/upload", content=content, headers=headers)


def test_a_photo_from_the_web_page_reaches_the_office(runtime: Runtime, client: TestClient) -> None:
    chat_id, secret = start(client)
    assert upload(client, chat_id, "wrong" + secret, JPEG).status_code == 403
    assert upload(client, chat_id, None, JPEG).status_code == 403
    nothing_awaited = upload(client, chat_id, secret, JPEG)
    assert nothing_awaited.status_code == 200
    assert "只能看懂文字" in str(nothing_awaited.json())
    assert stored(runtime) == []

    found = awaiting_materials(runtime, "web", chat_id)
    refused = upload(client, chat_id, secret, NOT_A_PHOTO, "photo.jpg")
    assert refused.status_code == 415 and refused.json()["detail"] == attachments.NOT_ACCEPTED
    large = JPEG + secrets.token_bytes(300_000)  # over the 256 KB every other request is held to
    sent = upload(client, chat_id, secret, large, "%2E%2E%2F%2E%2E%2Fetc%2F%E5%B7%A5%E8%B5%84%E6%9D%A1.jpg")
    assert sent.status_code == 200, sent.text
    messages = sent.json()["messages"]
    assert messages[0]["kind"] == "media" and "已收到" in messages[-1]["text"]
    kept = assert_kept_for(runtime, found, large)
    assert kept.filename == "工资条.jpg" and kept.channel == "web"  # the folders in the name are dropped
    assert file_of(runtime, kept).is_relative_to(runtime.settings.data_dir.resolve() / "attachments")
    assert client.post(f"/api/chat/{chat_id}/messages", content=b"x" * 300_000,  # the limit stays elsewhere
                       headers={"X-Chat-Secret": secret, "Content-Type": "application/octet-stream"}).status_code == 413


def test_an_oversize_web_upload_is_refused(runtime: Runtime, client: TestClient) -> None:
    chat_id, secret = start(client)
    awaiting_materials(runtime, "web", chat_id)
    runtime.engine.settings = runtime.engine.settings.model_copy(update={"attachment_max_bytes": 1000})
    refused = upload(client, chat_id, secret, JPEG)
    assert refused.status_code == 413 and refused.json()["detail"] == "文件太大，请不要超过1KB"
    assert stored(runtime) == []
    guard = client.post(f"/api/chat/{chat_id}/upload", content=b"\xff\xd8\xff" + bytes(11 * 1024 * 1024),
                        headers={"X-Chat-Secret": secret})
    assert guard.status_code == 413 and stored(runtime) == []


def test_deleting_ones_data_and_retention_remove_the_files(runtime: Runtime, client: TestClient) -> None:
    chat_id, secret = start(client)
    awaiting_materials(runtime, "web", chat_id)
    assert upload(client, chat_id, secret, JPEG).status_code == 200
    [kept] = stored(runtime)
    path = file_of(runtime, kept)
    deleted = client.post(f"/api/chat/{chat_id}/messages", json={"payload": actions.DELETE_CONFIRM},
                          headers={"X-Chat-Secret": secret})
    assert deleted.status_code == 200 and deleted.json()["notices"]
    assert not path.exists() and stored(runtime) == []

    other = f"web-{uuid.uuid4().hex[:12]}"
    found = awaiting_materials(runtime, "web", other)
    with runtime.store.session() as session:
        kept = attachments.save(session, runtime.settings.data_dir, found.citizen_id, JPEG, "a.jpg", channel="web")
        kept.application_id = found.id
        session.commit()
    path = file_of(runtime, kept)
    assert found.id is not None
    office_step(runtime, found.id, "accept")
    office_step(runtime, found.id, "complete", result="done")
    retention.erase_expired(runtime.store, 30, now=utcnow() + dt.timedelta(days=31), data_dir=runtime.settings.data_dir)
    assert not path.exists() and stored(runtime) == []


# ---- the module's own checks -----------------------------------------------------------------------


def test_files_are_recognised_by_their_bytes_and_stored_paths_are_guarded(runtime: Runtime, tmp_path: Path) -> None:
    assert attachments.recognise(b"%PDF-1.7\n") == ("application/pdf", "document", ".pdf")
    assert attachments.recognise(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image/webp", "photo", ".webp")
    assert attachments.recognise(b"\x89PNG\r\n\x1a\n....") == ("image/png", "photo", ".png")
    assert attachments.recognise(b"<svg xmlns=...>") is None and attachments.recognise(b"MZ\x90\x00") is None
    assert attachments.clean_filename("..\\..\\合同\u202egpj.exe", "application/pdf", "document") == "合同gpj.exe.pdf"
    assert attachments.clean_filename("", "image/png", "photo") == "照片.png"
    assert len(attachments.clean_filename("名" * 500 + ".jpg", "image/jpeg", "photo")) <= 128
    with Session(runtime.store.engine) as session:
        with pytest.raises(attachments.AttachmentError, match="只能发送照片"):
            attachments.save(session, tmp_path, 1, NOT_A_PHOTO, "x.jpg")
        with pytest.raises(attachments.AttachmentError, match="文件太大"):
            attachments.save(session, tmp_path, 1, JPEG, "x.jpg", limit=100)
    for forged in ("../../etc/passwd", "/etc/passwd", "2026-12/../../x", "2026-12/" + "a" * 32 + "/.."):
        with pytest.raises(FileNotFoundError):
            attachments.open_file(tmp_path, Attachment(citizen_id=1, channel="web", kind="photo", content_type="image/jpeg",
                                                       filename="x.jpg", size=1, sha256="0", path=forged))
    assert apps.MATERIALS == "materials"
