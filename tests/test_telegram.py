"""The Telegram channel, driven through python-telegram-bot's real code against a fake Bot API on 127.0.0.1.

Each test talks to the bot the way Telegram would: updates through the webhook route or long polling,
and what the citizen sees is what the fake Bot API received (sendMessage, answerCallbackQuery).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlmodel import col, select
from telegram import Update

from bot.app import create_app
from bot.channels.telegram import (
    SECRET_HEADER,
    WEBHOOK_PATH,
    FloodLimiter,
    TelegramChannel,
    inline_keyboard,
    split_text,
)
from bot.delivery import MAX_ATTEMPTS, deliver_pending
from bot.engine import Incoming, Reply
from bot.runtime import Runtime
from bot.store import Citizen, Conversation, Feedback, HandoffTicket, InboundUpdate, Message
from services.city import haversine_km
from tests.fakes.telegram_api import FakeTelegramAPI, running
from tests.waiting import until, wait_until

CHAT = 424242
T = TypeVar("T")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")  # TestClient's httpx


# ---- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with running(FakeTelegramAPI()) as api:
        yield api


@pytest.fixture
def centres(tmp_path: Path) -> Path:
    """A city file whose two centres are far apart."""
    path = tmp_path / "city.yml"
    centre = {"level": "county", "hours": "9:00-17:00", "services": ["consultation"]}
    path.write_text(yaml.safe_dump({"city": "测试市", "districts": [{"name": "上城区"}, {"name": "东城区"}], "offices": [],
                                    "centres": [
        {"id": "hz", "name": "杭州市公共法律服务中心", "district": "上城区", "address": "杭州市上城区解放东路18号",
         "phone": "0571-12348", "lat": 30.2460, "lon": 120.2100, **centre},
        {"id": "bj", "name": "北京市东城区公共法律服务中心", "district": "东城区", "address": "北京市东城区东四北大街1号",
         "phone": "010-12348", "lat": 39.9300, "lon": 116.4170, **centre},
    ]}, allow_unicode=True), encoding="utf-8")
    return path


def configured(runtime: Runtime, fake: FakeTelegramAPI, centres: Path, **settings: Any) -> Runtime:
    """The test runtime with Telegram settings pointing at the fake Bot API."""
    update = {"telegram_token": fake.token, "telegram_api_base": fake.base_url, "city_file": centres,
              "telegram_mode": "webhook", "telegram_webhook_url": "https://bot.example.org/webhooks/telegram",
              **settings}
    configured_settings = runtime.settings.model_copy(update=update)
    runtime.engine.settings = configured_settings  # the engine finds the service centres
    return dataclasses.replace(runtime, settings=configured_settings)


@pytest.fixture
def rt(runtime: Runtime, fake: FakeTelegramAPI, centres: Path) -> Runtime:
    return configured(runtime, fake, centres)


def with_channel(rt: Runtime, scenario: Callable[[TelegramChannel], Awaitable[T]], **kwargs: Any) -> T:
    """Start a channel in an event loop of its own, run ``scenario`` with it, and stop it.

    Unless a test brings its own, the rate limiter skips the one-message-a-second pause per private chat
    (tested on its own in ``test_flood_limits_space_one_chat_and_cap_the_whole_bot``), which would only make the tests wait."""
    kwargs.setdefault("rate_limiter", FloodLimiter(chat_rate=0))

    async def main() -> T:
        channel = TelegramChannel(rt, **kwargs)
        await channel.start()
        try:
            return await scenario(channel)
        finally:
            await channel.stop()

    return asyncio.run(main())


async def feed(channel: TelegramChannel, update: dict[str, Any]) -> None:
    """Hand one update to the channel as Telegram would, and wait until its replies are sent."""
    await channel.handle_update(Update.de_json(update, channel.bot))
    await channel.drain()


@dataclasses.dataclass
class RelayPasses:
    """Counts the app relay's passes (``relay_forever`` calling ``bot.delivery.deliver_pending``)."""

    started: int = 0
    finished: int = 0

    def wait_for_a_whole_pass(self, timeout: float = 15.0) -> None:
        """Block until a relay pass that began after this call has finished (passes run one after another)."""
        target = self.started + 1
        wait_until(lambda: self.finished >= target, timeout, message="no relay pass ran")


@pytest.fixture
def relay_passes(monkeypatch: pytest.MonkeyPatch) -> RelayPasses:
    """Only the relay's passes are counted: the channel's immediate delivery and the tests import their own
    reference to ``deliver_pending``; ``relay_forever`` looks the module's up on every pass."""
    import bot.delivery

    passes = RelayPasses()
    original = bot.delivery.deliver_pending

    async def counted(*args: Any, **kwargs: Any) -> int:
        passes.started += 1
        try:
            return await original(*args, **kwargs)
        finally:
            passes.finished += 1

    monkeypatch.setattr(bot.delivery, "deliver_pending", counted)
    return passes


def messages(rt: Runtime, chat_id: int = CHAT, direction: str | None = None) -> list[Message]:
    with rt.store.session() as session:
        query = (select(Message).join(Citizen, col(Citizen.id) == Message.citizen_id)
                 .where(Citizen.channel == "telegram", Citizen.channel_user_id == str(chat_id))
                 .order_by(col(Message.id)))
        if direction:
            query = query.where(Message.direction == direction)
        return list(session.exec(query).all())


def count(rt: Runtime, model: Any) -> int:
    with rt.store.session() as session:
        return len(session.exec(select(model)).all())


def callback_data(params: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in params.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def slow_engine(rt: Runtime, monkeypatch: pytest.MonkeyPatch, seconds: float = 0.5) -> None:
    handle = rt.engine.handle

    def slowly(incoming: Incoming) -> Reply:
        time.sleep(seconds)
        return handle(incoming)

    monkeypatch.setattr(rt.engine, "handle", slowly)


def failing_once(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine fails before storing anything, once (as when the database is briefly away)."""
    handle = rt.engine.handle
    failures = [RuntimeError("database unavailable")]

    def flaky(incoming: Incoming) -> Reply:
        if failures:
            raise failures.pop()
        return handle(incoming)

    monkeypatch.setattr(rt.engine, "handle", flaky)


# ---- answering ---------------------------------------------------------------------------------------


def test_a_question_by_long_polling_gets_one_answer_with_inline_buttons(
        runtime: Runtime, fake: FakeTelegramAPI, centres: Path) -> None:
    rt = configured(runtime, fake, centres, telegram_mode="polling")

    async def scenario(channel: TelegramChannel) -> None:
        fake.push(fake.text_update(CHAT, "老板拖欠工资三个月了"))
        await until(lambda: len(fake.sent(CHAT)) >= 2)
        await channel.drain()

    with_channel(rt, scenario)
    assert fake.calls_to("deleteWebhook") and fake.calls_to("getUpdates")
    sent = fake.sent(CHAT)
    answers = [p for p in sent if "法律依据" in p["text"]]
    assert len(answers) == 1 and len(sent) == 2  # the first-contact notice, then the answer
    assert callback_data(answers[0])[:3] == ["/helpful", "/not_helpful", "/lawyer"]
    assert all(data.startswith("/faq:") for data in callback_data(answers[0])[3:])  # related questions
    assert all("parse_mode" not in p for p in sent)  # plain text: nothing to escape
    outgoing = messages(rt, direction="out")
    assert len(outgoing) == 2 and all(m.delivered_at is not None and m.channel_message_id for m in outgoing)
    assert messages(rt, direction="in")[0].text == "老板拖欠工资三个月了"


def test_a_redelivered_update_gets_no_second_reply(rt: Runtime, fake: FakeTelegramAPI) -> None:
    update = fake.text_update(CHAT, "房东不退押金怎么办")

    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, update)
        await feed(channel, update)

    with_channel(rt, scenario)
    assert len(fake.sent(CHAT)) == 2
    assert len(messages(rt, direction="in")) == 1


def test_a_retry_while_the_first_is_still_processing_gets_no_second_reply(
        rt: Runtime, fake: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_engine(rt, monkeypatch)
    update = fake.text_update(CHAT, "离婚后孩子抚养权归谁")

    async def scenario(channel: TelegramChannel) -> None:
        await asyncio.gather(feed(channel, update), feed(channel, update))

    with_channel(rt, scenario)
    assert len(messages(rt, direction="in")) == 1
    assert len(fake.sent(CHAT)) == len(messages(rt, direction="out")) == 2


def test_a_429_is_waited_out_and_the_reply_is_sent_once(rt: Runtime, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendMessage", retry_after=1)

    async def scenario(channel: TelegramChannel) -> float:
        started = time.monotonic()
        await feed(channel, fake.text_update(CHAT, "老板拖欠工资三个月了"))
        return time.monotonic() - started

    took = with_channel(rt, scenario)
    assert [c.status for c in fake.calls_to("sendMessage", ok_only=False)][0] == 429
    assert took >= 1.0  # retry_after was honoured
    texts = fake.texts(CHAT)
    assert len(texts) == len(set(texts)) == 2
    assert all(m.delivered_at is not None for m in messages(rt, direction="out"))


def test_a_429_outlasting_the_retries_is_delivered_later_by_the_relay(
    rt: Runtime, fake: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.fail_next("sendMessage", times=2, retry_after=1)
    monkeypatch.setattr("bot.delivery.backoff", lambda attempts: dt.timedelta(0))  # the backoff has passed

    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "老板拖欠工资三个月了"))
        waiting = [m for m in messages(rt, direction="out") if m.delivered_at is None]
        # The first failed; the answer waits behind it so that the citizen reads them in order.
        assert len(waiting) == 2 and waiting[0].delivery_error is not None
        assert waiting[0].delivery_error.startswith("telegram_flood")
        assert await deliver_pending(rt.store, {"telegram": channel}) == 2  # the relay's next pass

    with_channel(rt, scenario, rate_limiter=FloodLimiter(max_retries=1, chat_rate=0))
    texts = fake.texts(CHAT)
    assert len(texts) == len(set(texts)) == 2
    assert all(m.delivered_at is not None for m in messages(rt, direction="out"))


def test_a_refused_message_is_recorded_and_not_retried(rt: Runtime, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendMessage", times=5, status=403, description="Forbidden: bot was blocked by the user")

    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "你好"))
        await deliver_pending(rt.store, {"telegram": channel})

    with_channel(rt, scenario)
    assert fake.sent(CHAT) == []
    refused = messages(rt, direction="out")
    assert refused and all(m.delivery_attempts == MAX_ATTEMPTS and m.delivered_at is None for m in refused)
    assert all((m.delivery_error or "").startswith("telegram_forbidden") for m in refused)


def test_immediate_delivery_and_the_relay_never_send_a_message_twice(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await channel.handle_update(Update.de_json(fake.text_update(CHAT, "交通事故对方全责怎么赔"), channel.bot))
        await asyncio.gather(channel.drain(), deliver_pending(rt.store, {"telegram": channel}),
                             deliver_pending(rt.store, {"telegram": channel}))

    with_channel(rt, scenario)
    texts = fake.texts(CHAT)
    assert len(texts) == len(set(texts)) == len(messages(rt, direction="out"))


def test_an_update_whose_processing_failed_is_processed_when_redelivered(
        rt: Runtime, fake: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_once(rt, monkeypatch)
    update = fake.text_update(CHAT, "老板拖欠工资三个月了")

    async def scenario(channel: TelegramChannel) -> None:
        with pytest.raises(RuntimeError):
            await feed(channel, update)
        await feed(channel, update)  # Telegram's retry after our 500

    with_channel(rt, scenario)
    assert len([t for t in fake.texts(CHAT) if "法律依据" in t]) == 1


def test_a_failed_update_is_tried_again_when_polling(runtime: Runtime, fake: FakeTelegramAPI, centres: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rt = configured(runtime, fake, centres, telegram_mode="polling")
    failing_once(rt, monkeypatch)  # polling has no redelivery: the channel itself tries again

    async def scenario(channel: TelegramChannel) -> None:
        fake.push(fake.text_update(CHAT, "老板拖欠工资三个月了"))
        await until(lambda: len(fake.sent(CHAT)) >= 2)
        await channel.drain()

    with_channel(rt, scenario)
    assert len([t for t in fake.texts(CHAT) if "法律依据" in t]) == 1
    assert len(messages(rt, direction="in")) == 1


# ---- buttons, media, locations, commands ---------------------------------------------------------


def test_a_button_press_routes_the_payload_and_answers_the_callback(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "老板拖欠工资三个月了"))
        await feed(channel, fake.callback_update(CHAT, "/helpful"))

    with_channel(rt, scenario)
    [answered] = fake.calls_to("answerCallbackQuery")
    assert str(answered.params["callback_query_id"]).startswith("cbq-")
    assert "很高兴" in fake.texts(CHAT)[-1]
    assert count(rt, Feedback) == 1


def test_photos_stickers_and_voice_get_a_sensible_reply(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        for kind in ("photo", "sticker", "voice", "document"):
            await feed(channel, fake.media_update(CHAT, kind))
        await feed(channel, fake.media_update(CHAT, "photo", caption="房东不退押金怎么办"))

    with_channel(rt, scenario)
    texts = fake.texts(CHAT)
    assert sum("只能看懂文字" in t for t in texts) == 4
    assert "法律依据" in texts[-1]  # a caption is read as the question
    kinds = [(m.decision or {}).get("media", m.kind) for m in messages(rt, direction="in")]
    assert kinds == ["photo", "sticker", "voice", "document", "text"]


def test_a_shared_location_gets_the_nearest_service_centre(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.location_update(CHAT, 39.9150, 116.4040))  # Tiananmen, Beijing

    with_channel(rt, scenario)
    notice, reply = fake.texts(CHAT)  # a first contact: the disclaimer comes first, as on every channel
    assert "我不是律师" in notice
    assert "北京市东城区公共法律服务中心" in reply and "010-12348" in reply and "东四北大街1号" in reply
    assert "公里" in reply and "杭州" not in reply
    incoming, outgoing = messages(rt, direction="in"), messages(rt, direction="out")
    assert incoming[0].kind == "location" and incoming[0].text == ""  # the coordinates are not kept
    assert outgoing[-1].text == reply and outgoing[-1].delivered_at is not None
    with rt.store.session() as session:
        conversation = session.get(Conversation, incoming[0].conversation_id)
        assert conversation is not None and conversation.pending_outcome == "referred"


def test_the_commands(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        for command in ("/start", "/help", "/privacy", "/unknown", "/language"):
            await feed(channel, fake.text_update(CHAT, command))

    with_channel(rt, scenario)
    sent = fake.sent(CHAT)
    greeting = next(p for p in sent if "/topic:labor" in callback_data(p))
    assert "请直接说说" in greeting["text"]
    # /help, /privacy and the unknown command tell how to delete one's data
    assert sum("删除我的数据" in p["text"] for p in sent) == 3
    assert any(p["text"].startswith("隐私说明") for p in sent)
    assert callback_data(sent[-1]) == ["/language:zh", "/language:en"]
    assert [m.kind for m in messages(rt, direction="in")] == ["command"] * 5


def test_the_services_menu_is_in_the_command_menu_and_each_command_answered(rt: Runtime,
                                                                            fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        for command in ("/consult", "/legal_aid", "/mediation", "/notary", "/guide", "/mine"):
            await feed(channel, fake.text_update(CHAT, command))

    with_channel(rt, scenario)
    menus = {c.params.get("language_code", ""): [cmd["command"] for cmd in json.loads(c.params["commands"])]
             for c in fake.calls_to("setMyCommands")}
    for commands in menus.values():
        assert commands[1:7] == ["consult", "legal_aid", "mediation", "notary", "guide", "mine"]
    sent = fake.sent(CHAT)
    assert "/topic:labor" in callback_data(next(p for p in sent if "请用一两句话" in p["text"]))
    for form in ("legal_aid", "mediation", "notarization"):
        assert any(callback_data(p)[:1] == ["/apply:" + form] for p in sent), form
    assert any(p["text"].startswith("办事指南") for p in sent)
    assert sent[-1]["text"].startswith("暂无记录")
    assert [m.text for m in messages(rt, direction="in")][-1] == "/mine"


def test_lawyer_command_hands_off(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "/lawyer"))

    with_channel(rt, scenario)
    assert "已为您转接律师" in fake.texts(CHAT)[-1]
    assert count(rt, HandoffTicket) == 1


def test_the_language_choice_sticks(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "/language"))
        await feed(channel, fake.callback_update(CHAT, "/language:en"))
        await feed(channel, fake.text_update(CHAT, "/help", language="zh-hans"))

    with_channel(rt, scenario)
    texts = fake.texts(CHAT)
    assert texts[-2] == "Language set to English." and texts[-1].startswith("Just describe")
    with rt.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel_user_id == str(CHAT))).one()
        assert citizen.language == "en"
    pressed = [m for m in messages(rt, direction="in") if m.kind == "button"]
    assert [m.text for m in pressed] == ["English"]  # the transcript shows the label, not "/language:en"


def test_a_first_contact_in_an_english_telegram_gets_english(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "/start", language="en"))

    with_channel(rt, scenario)
    texts = fake.texts(CHAT)
    assert texts[0].startswith("Hello, I am the 12348") and texts[1].startswith("Hello! Tell me")


def test_delete_my_data_removes_texts_but_keeps_anonymous_counts(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await feed(channel, fake.text_update(CHAT, "老板拖欠工资三个月了，我叫张三，电话13812345678"))
        await feed(channel, fake.text_update(CHAT, "/lawyer"))
        await feed(channel, fake.text_update(CHAT, "/delete_my_data"))
        await feed(channel, fake.callback_update(CHAT, "/delete_my_data:cancel"))
        assert messages(rt)  # cancelling kept everything
        await feed(channel, fake.text_update(CHAT, "/delete_my_data"))
        await feed(channel, fake.callback_update(CHAT, "/delete_my_data:confirm"))

    with_channel(rt, scenario)
    sent = fake.sent(CHAT)
    assert callback_data(sent[-2]) == ["/delete_my_data:confirm", "/delete_my_data:cancel"]
    assert "已删除" in sent[-1]["text"]
    assert messages(rt) == [] and count(rt, Message) == 0
    with rt.store.session() as session:
        [citizen] = session.exec(select(Citizen)).all()
        assert citizen.channel_user_id.startswith("erased:") and str(CHAT) not in citizen.channel_user_id
        [conversation] = session.exec(select(Conversation)).all()  # the count stays
        assert conversation.status == "closed" and conversation.outcome == "withdrawn"
        assert conversation.service and conversation.topic
        [ticket] = session.exec(select(HandoffTicket)).all()
        assert ticket.status == "cancelled" and ticket.packet == {} and ticket.summary is None
    assert "张三" not in repr(ticket) and "13812345678" not in repr(conversation)

    async def again(channel: TelegramChannel) -> None:  # writing again starts afresh
        await feed(channel, fake.text_update(CHAT, "你好"))

    with_channel(rt, again)
    assert count(rt, Citizen) == 2 and len(messages(rt, direction="in")) == 1


def test_odd_updates_do_not_crash_or_get_replies(rt: Runtime, fake: FakeTelegramAPI) -> None:
    group = fake.text_update(-100123, "大家好")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "群"}
    edited = fake.text_update(CHAT, "改过的消息")
    edited["edited_message"] = edited.pop("message")
    pinned = fake.text_update(CHAT, "x")
    del pinned["message"]["text"]
    pinned["message"]["pinned_message"] = {"message_id": 1, "date": 0, "chat": {"id": CHAT, "type": "private"}}

    async def scenario(channel: TelegramChannel) -> None:
        for update in (group, edited, pinned, {"update_id": 77}):
            await feed(channel, update)
        await feed(channel, fake.callback_update(CHAT, "/no-such-button"))

    with_channel(rt, scenario)
    assert fake.sent(-100123) == []
    assert len(messages(rt, direction="in")) == 1  # only the button press reached the engine
    assert "没有输入文字" in fake.texts(CHAT)[-1]


# ---- the webhook ----------------------------------------------------------------------------------


@pytest.fixture
def webhook(rt: Runtime) -> Iterator[tuple[TestClient, TelegramChannel]]:
    channel = TelegramChannel(rt)
    with TestClient(create_app(rt, run_sweeper=False, channels=[channel])) as client:
        yield client, channel


def test_the_webhook_is_registered_with_a_secret_token(
        webhook: tuple[TestClient, TelegramChannel], fake: FakeTelegramAPI) -> None:
    _, channel = webhook
    [registered] = fake.calls_to("setWebhook")
    assert registered.params["url"] == "https://bot.example.org/webhooks/telegram"
    assert registered.params["secret_token"] == channel.secret_token and len(channel.secret_token) >= 32
    assert registered.params["allowed_updates"] == ["message", "callback_query"]
    menus = {c.params.get("language_code", ""): [cmd["command"] for cmd in json.loads(c.params["commands"])]
             for c in fake.calls_to("setMyCommands")}
    assert menus.keys() == {"", "en"} and menus["en"][0] == "start" and "delete_my_data" in menus[""]


def test_a_webhook_request_without_the_right_secret_is_refused_and_not_processed(
        webhook: tuple[TestClient, TelegramChannel], rt: Runtime, fake: FakeTelegramAPI,
        relay_passes: RelayPasses) -> None:
    client, channel = webhook
    update = fake.text_update(CHAT, "老板拖欠工资三个月了")
    assert client.post(WEBHOOK_PATH, json=update).status_code == 403
    for wrong in ("wrong", channel.secret_token[:-1], channel.secret_token + "x", b"\xe9" * 64):
        assert client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: wrong}).status_code == 403
    assert count(rt, InboundUpdate) == 0 and count(rt, Message) == 0 and count(rt, Citizen) == 0
    relay_passes.wait_for_a_whole_pass()  # the relay had its chance to send anything
    assert fake.sent() == [] and count(rt, Message) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}',
                                  b'{"update_id": 7, "message": "text"}', b"\xff\xfe", b""])
def test_a_malformed_update_is_a_400(webhook: tuple[TestClient, TelegramChannel], rt: Runtime,
                                     body: bytes) -> None:
    client, channel = webhook
    response = client.post(WEBHOOK_PATH, content=body, headers={SECRET_HEADER: channel.secret_token,
                                                                 "content-type": "application/json"})
    assert response.status_code == 400
    assert count(rt, Message) == 0


def test_an_oversized_update_is_a_413(webhook: tuple[TestClient, TelegramChannel], rt: Runtime) -> None:
    client, channel = webhook
    headers = {SECRET_HEADER: channel.secret_token, "content-type": "application/json"}
    declared = client.post(WEBHOOK_PATH, content=b"{" + b" " * 300_000 + b"}", headers=headers)
    streamed = client.post(WEBHOOK_PATH, content=(b" " * 10_000 for _ in range(20)), headers=headers)
    assert declared.status_code == streamed.status_code == 413  # with and without a Content-Length
    assert count(rt, Message) == 0


def test_the_webhook_answers_once_even_when_telegram_retries(
        webhook: tuple[TestClient, TelegramChannel], rt: Runtime, fake: FakeTelegramAPI,
        monkeypatch: pytest.MonkeyPatch, relay_passes: RelayPasses) -> None:
    client, channel = webhook
    headers = {SECRET_HEADER: channel.secret_token}
    first = fake.text_update(CHAT, "老板拖欠工资三个月了")
    assert client.post(WEBHOOK_PATH, json=first, headers=headers).status_code == 200
    fake.wait_for("sendMessage", 2)
    assert client.post(WEBHOOK_PATH, json=first, headers=headers).status_code == 200  # redelivered

    slow_engine(rt, monkeypatch)  # a retry arriving while the first copy is still being processed
    second = fake.text_update(CHAT, "你好")
    statuses: list[int] = []
    posts = [threading.Thread(target=lambda: statuses.append(
        client.post(WEBHOOK_PATH, json=second, headers=headers).status_code)) for _ in range(2)]
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    assert statuses == [200, 200]
    fake.wait_for("sendMessage", 3)
    wait_until(lambda: all(m.delivered_at is not None for m in messages(rt, direction="out")),
               message="the replies were not all delivered")
    relay_passes.wait_for_a_whole_pass()  # and the relay had its chance to send anything extra
    texts = fake.texts(CHAT)
    assert len(texts) == 3 and len(messages(rt, direction="out")) == 3
    assert sum("法律依据" in t for t in texts) == 1 and texts[-1].startswith("您好！请直接说说")
    assert len(messages(rt, direction="in")) == 2


# ---- pieces ---------------------------------------------------------------------------------------


def test_flood_limits_space_one_chat_and_cap_the_whole_bot() -> None:
    async def ok(*_: Any, **__: Any) -> bool:
        return True

    async def send_all(limiter: FloodLimiter, chat_ids: list[int]) -> float:
        started = time.monotonic()
        await asyncio.gather(*(limiter.process_request(ok, (), {}, "sendMessage", {"chat_id": c}, None)
                               for c in chat_ids))
        return time.monotonic() - started

    assert asyncio.run(send_all(FloodLimiter(), [7, 7, 7])) >= 1.8  # one a second in a private chat
    assert asyncio.run(send_all(FloodLimiter(), [1, 2, 3])) < 0.5
    assert asyncio.run(send_all(FloodLimiter(), list(range(1, 46)))) >= 0.4  # 30 a second overall


def test_buttons_become_an_inline_keyboard_and_long_texts_are_split() -> None:
    markup = inline_keyboard([{"label": "有帮助", "payload": "/helpful"}, {"label": "没帮助", "payload": "/not_helpful"},
                              {"label": "转接律师", "payload": "/lawyer"}, {"label": "太长", "payload": "/x" * 40}])
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [["/helpful", "/not_helpful"],
                                                                                ["/lawyer"]]
    long_labels = inline_keyboard([{"label": "Housing, property and tenancy", "payload": "/topic:property"},
                                   {"label": "Labour disputes", "payload": "/topic:labor"}])
    assert long_labels is not None and [len(row) for row in long_labels.inline_keyboard] == [1, 1]
    assert inline_keyboard([]) is None
    text = ("第一段。" * 300 + "\n") * 5
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= 4000 for p in pieces) and "\n".join(pieces) == text


def test_a_long_message_arrives_in_pieces_with_the_buttons_on_the_last(rt: Runtime, fake: FakeTelegramAPI) -> None:
    long = Message(id=1, conversation_id=1, citizen_id=1, direction="out", sender="lawyer", text="很长的回复。" * 1500,
                   buttons=[{"label": "转接律师", "payload": "/lawyer"}])

    async def scenario(channel: TelegramChannel) -> str | None:
        return await channel.send(str(CHAT), long)

    assert with_channel(rt, scenario)
    sent = fake.sent(CHAT)
    assert len(sent) == 3 and "".join(p["text"] for p in sent) == long.text
    assert [callback_data(p) for p in sent] == [[], [], ["/lawyer"]]


def test_the_distance_is_a_great_circle() -> None:
    assert haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067, abs=5)  # Beijing–Shanghai
    assert haversine_km(30.0, 120.0, 30.0, 120.0) == 0


def test_an_unreachable_bot_api_does_not_stop_the_server(runtime: Runtime, fake: FakeTelegramAPI,
                                                        centres: Path) -> None:
    rt = configured(runtime, fake, centres, telegram_api_base="http://127.0.0.1:9/bot")  # nothing listens there
    channel = TelegramChannel(rt, rate_limiter=FloodLimiter(chat_rate=0))
    with TestClient(create_app(rt, run_sweeper=False, channels=[channel])) as client:  # the start did not fail
        assert client.get("/healthz").json() == {"status": "ok"}
        connecting = channel._connecting
        assert connecting is not None and not connecting.done()  # still trying to reach Telegram
        # Updates are still taken in, stored and answered; the replies wait for the relay.
        response = client.post(WEBHOOK_PATH, json=fake.text_update(CHAT, "老板拖欠工资三个月了"),
                               headers={SECRET_HEADER: channel.secret_token})
        assert response.status_code == 200
        wait_until(lambda: any(m.delivery_error for m in messages(rt, direction="out")),
                   message="no delivery was attempted")
        assert client.get("/healthz").json() == {"status": "ok"}
    assert [m.text for m in messages(rt, direction="in")] == ["老板拖欠工资三个月了"]
    outgoing = messages(rt, direction="out")
    assert len(outgoing) == 2 and any("法律依据" in m.text for m in outgoing)
    assert all(m.delivered_at is None and m.delivery_attempts < MAX_ATTEMPTS for m in outgoing)  # kept for later
    assert "will retry" in (outgoing[0].delivery_error or "")  # a retryable network failure
    assert fake.calls == []


def test_settings_are_checked_when_the_channel_is_made(runtime: Runtime, fake: FakeTelegramAPI,
                                                      centres: Path) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_URL"):
        TelegramChannel(configured(runtime, fake, centres, telegram_webhook_url=None))
    with pytest.raises(ValueError, match="SECRET_TOKEN"):
        TelegramChannel(configured(runtime, fake, centres, telegram_secret_token="has spaces"))
    with pytest.raises(ValueError, match="MODE"):
        TelegramChannel(configured(runtime, fake, centres, telegram_mode="carrier-pigeon"))
