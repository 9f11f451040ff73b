"""Applying for legal aid on Telegram and on WeChat (issue 14): services/desk.py through the real channel
adapters, against the fake Bot API and the fake WeChat API on 127.0.0.1.

The citizen types 申请法律援助, answers every question (choices by inline button on Telegram, by typing the
number of the menu line on WeChat), has a wrong ID number refused, confirms, consents and gets the 受理编号.
An office step made from the back office then reaches the citizen through the relay, and 查询进度 shows the
timeline. On WeChat a step made while the 48-hour window is closed is said again at the citizen's next
message. tests/test_desk.py covers the desk itself through the test channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from bot.app import create_app
from bot.channels.telegram import TelegramChannel
from bot.channels.wechat import WeChatChannel
from bot.delivery import MAX_ATTEMPTS, relay_forever
from bot.runtime import Runtime
from bot.store import Application, ApplicationEvent, Citizen, Lawyer, Message
from services import applications as apps
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_api import running as telegram_running
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.test_telegram import feed, with_channel
from tests.test_wechat import TOKEN, Follower, WeChatServer, age, sent_to, stored
from tests.waiting import until, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")  # TestClient's httpx

#: A valid resident ID number (GB 11643 check digit), and the same with a wrong check digit.
ID_CARD = "11010519491231002X"
WRONG_ID_CARD = "110105194912310021"
CHAT = 515151
REFERENCE = re.compile(r"FY-\d{8}-\d{4}")
#: The longest choice of the legal-aid form: "/form:" and 18 Chinese characters, 60 of Telegram's 64 bytes.
LONGEST_CHOICE = "无固定生活来源的老年人未成年人残疾人"
STORY = "老板拖欠三个月工资一直不给，想申请仲裁。"


def office_step(runtime: Runtime, reference: str, step: str, **kwargs: Any) -> None:
    """What the office's console does: one step on the application, committed."""
    with runtime.store.session() as session:
        staff = Lawyer(username=f"office-{step}", display_name="法律援助中心", password_hash="x", role="admin")
        session.add(staff)
        session.flush()
        found = apps.by_reference(session, reference)
        assert found is not None
        apps.act(session, found, step, staff, **kwargs)
        session.commit()


def step_message(runtime: Runtime, reference: str, step: str) -> Message:
    """The message an office step wrote to the citizen."""
    with runtime.store.session() as session:
        found = apps.by_reference(session, reference)
        assert found is not None
        event = session.exec(select(ApplicationEvent).where(ApplicationEvent.application_id == found.id,
                                                            ApplicationEvent.kind == step)).one()
        message = session.get(Message, event.message_id)
        assert message is not None
        return message


def submitted(runtime: Runtime) -> Application:
    with runtime.store.session() as session:
        return session.exec(select(Application).where(col(Application.reference).is_not(None))).one()


def status_of(runtime: Runtime, reference: str) -> str:
    with runtime.store.session() as session:
        found = apps.by_reference(session, reference)
        assert found is not None
        return found.status


def reload(runtime: Runtime, message: Message) -> Message:
    with runtime.store.session() as session:
        fresh = session.get(Message, message.id)
        assert fresh is not None
        return fresh


# ---- Telegram ------------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with telegram_running(FakeTelegramAPI()) as api:
        yield api


@pytest.fixture
def telegram(runtime: Runtime, fake: FakeTelegramAPI) -> Runtime:
    """The test runtime with a Telegram bot whose Bot API is the fake (and the example city's districts)."""
    configured = runtime.settings.model_copy(update={
        "telegram_token": fake.token, "telegram_api_base": fake.base_url, "telegram_mode": "webhook",
        "telegram_webhook_url": "https://bot.example.org/webhooks/telegram"})
    return dataclasses.replace(runtime, settings=configured)


def keyboard(params: dict[str, Any]) -> dict[str, str]:
    """An inline keyboard as the citizen sees it: label -> callback data."""
    rows = params.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


@dataclasses.dataclass
class TelegramCitizen:
    """A citizen in a private chat: ``say`` types, ``press`` taps a button of the last message received."""

    channel: TelegramChannel
    fake: FakeTelegramAPI
    chat_id: int = CHAT

    async def say(self, text: str) -> str:
        before = len(self.fake.sent(self.chat_id))
        await feed(self.channel, self.fake.text_update(self.chat_id, text))
        return "\n".join(self.fake.texts(self.chat_id)[before:])

    async def press(self, label: str) -> str:
        shown = keyboard(self.fake.sent(self.chat_id)[-1])
        assert label in shown, f"no button {label!r} under the last message; buttons: {list(shown)}"
        before = len(self.fake.sent(self.chat_id))
        await feed(self.channel, self.fake.callback_update(self.chat_id, shown[label]))
        return "\n".join(self.fake.texts(self.chat_id)[before:])


def test_a_citizen_applies_for_legal_aid_on_telegram_and_follows_it(
        telegram: Runtime, fake: FakeTelegramAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.telegram")

    async def scenario(channel: TelegramChannel) -> None:
        citizen = TelegramCitizen(channel, fake)
        assert "请问您的姓名" in await citizen.say("申请法律援助")
        assert "身份证" in await citizen.say("张三")
        assert "身份证号码不对" in await citizen.say(WRONG_ID_CARD)
        assert "电话" in await citizen.say(ID_CARD)
        assert "哪个区县" in await citizen.say("13912345678")
        assert set(keyboard(fake.sent(CHAT)[-1])) == {"示例区", "示例新区", "示例县", "取消"}  # the city file's
        assert "哪类事情" in await citizen.press("示例新区")
        assert "几口人" in await citizen.press("追讨工资或确认劳动关系")
        assert "收入" in await citizen.say("3")
        assert "情况之一" in await citizen.say("3000")
        assert "发生了什么" in await citizen.press(LONGEST_CHOICE)
        summary = await citizen.say(STORY)
        assert "请核对" in summary and ID_CARD in summary and "示例新区" in summary and LONGEST_CHOICE in summary
        assert "敏感个人信息" in await citizen.press("确认提交")
        done = await citizen.press("同意")
        reference = REFERENCE.search(done)
        assert reference and "法律援助中心" in done, done
        assert set(keyboard(fake.sent(CHAT)[-1])) == {"查询进度"}

        # The office accepts in its console; the relay brings the news to the chat.
        await asyncio.to_thread(office_step, telegram, reference.group(0), "accept")
        relay = asyncio.create_task(relay_forever(telegram.store, {"telegram": channel}, interval=0.1))
        try:
            news = await until(lambda: [t for t in fake.texts(CHAT) if "已受理" in t], message="no news of the step")
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        assert len(news) == 1 and reference.group(0) in news[0]
        assert keyboard(fake.sent(CHAT)[-1]) == {"查询进度": f"/progress:{reference.group(0)}"}

        timeline = await citizen.press("查询进度")  # the button under the news
        assert reference.group(0) in timeline and "已受理，办理中" in timeline
        assert "已提交" in timeline and timeline.count("\n· ") == 2  # submitted, accepted
        assert timeline == await citizen.say("查询进度")  # typed, it says the same

    with_channel(telegram, scenario)
    assert submitted(telegram).status == apps.ACCEPTED
    # Every message, with every one of its buttons, reached the Bot API: none was longer than 64 bytes.
    with telegram.store.session() as session:
        outgoing = session.exec(select(Message).join(Citizen, col(Citizen.id) == Message.citizen_id)
                                .where(Citizen.channel == "telegram", Message.direction == "out")
                                .order_by(col(Message.id))).all()
    sent = fake.sent(CHAT)
    assert [m.text for m in outgoing] == [p["text"] for p in sent]
    for message, params in zip(outgoing, sent, strict=True):
        assert list(keyboard(params).values()) == [b["payload"] for b in message.buttons], message.text
        assert all(len(b["payload"].encode()) <= 64 for b in message.buttons)
    assert sum(len(m.buttons) for m in outgoing) > 30
    assert not [r for r in caplog.records if "cannot be a Telegram button" in r.getMessage()]
    assert fake.calls_to("sendMessage", ok_only=False) == fake.calls_to("sendMessage")  # none refused


def test_pressing_progress_under_a_reference_shows_its_label_in_the_transcript(
        telegram: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        # The button under the 受理编号 and under every office step (services/applications.py ``tell``).
        await feed(channel, fake.callback_update(CHAT, "/progress:FY-20261204-0001"))

    with_channel(telegram, scenario)
    with telegram.store.session() as session:
        pressed = session.exec(select(Message).where(Message.direction == "in")).one()
    assert pressed.kind == "button"
    assert pressed.text.startswith("查询进度"), pressed.text  # the page and the console show "/progress:FY-…"


# ---- WeChat ----------------------------------------------------------------------------------------


@pytest.fixture
def wechat(runtime: Runtime, api: FakeWeChatAPI) -> Iterator[WeChatServer]:
    """The app with a WeChat account whose API is the fake; its relay runs every second."""
    configured = runtime.settings.model_copy(update={
        "wechat_token": TOKEN, "wechat_aes_key": None, "wechat_app_id": api.app_id,
        "wechat_app_secret": api.app_secret, "wechat_api_base": api.base_url})
    rt = dataclasses.replace(runtime, settings=configured)
    channel = WeChatChannel(rt)
    with TestClient(create_app(rt, run_sweeper=False, channels=[channel])) as http:  # warms the models up
        yield WeChatServer(http, channel, channel.crypto)


def menu(reply: str) -> dict[str, str]:
    """The numbered menu under a WeChat text: label -> the number to type."""
    return {label: number for number, label in re.findall(r"^回复 (\d+) (.+)$", reply, flags=re.MULTILINE)}


def say(citizen: Follower, text: str) -> str:
    return citizen.text_of(citizen.say(text))


def choose(citizen: Follower, reply: str, label: str) -> str:
    """Type the number of ``label`` in the menu under ``reply``."""
    numbers = menu(reply)
    assert label in numbers, f"no menu line for {label!r}: {reply}"
    return say(citizen, numbers[label])


def apply_on_wechat(citizen: Follower) -> str:
    """Fill in and submit the legal-aid form by typing; returns the reference."""
    assert "请问您的姓名" in say(citizen, "申请法律援助")
    assert "身份证" in say(citizen, "张三")
    assert "身份证号码不对" in say(citizen, WRONG_ID_CARD)
    assert "电话" in say(citizen, ID_CARD)
    districts = say(citizen, "13912345678")
    assert list(menu(districts)) == ["示例区", "示例新区", "示例县", "取消"]
    matters = choose(citizen, districts, "示例区")
    assert "哪类事情" in matters
    assert "几口人" in choose(citizen, matters, "工伤赔偿")
    assert "收入" in say(citizen, "3")
    circumstances = say(citizen, "3000")
    assert "情况之一" in circumstances
    assert "发生了什么" in choose(citizen, circumstances, "进城务工人员讨薪或工伤")
    summary = say(citizen, STORY)
    assert "请核对" in summary and ID_CARD in summary and "工伤赔偿" in summary
    consent = choose(citizen, summary, "确认提交")
    assert "敏感个人信息" in consent
    done = choose(citizen, consent, "同意")
    reference = REFERENCE.search(done)
    assert reference and "法律援助中心" in done, done
    return reference.group(0)


def test_a_citizen_applies_for_legal_aid_on_wechat_and_follows_it(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI) -> None:
    citizen = wechat.follower()
    reference = apply_on_wechat(citizen)
    assert sent_to(api, citizen.openid) == []  # every reply so far was the passive one

    office_step(runtime, reference, "accept")
    news = wait_until(lambda: sent_to(api, citizen.openid), message="the relay sent nothing")
    assert len(news) == 1 and reference in news[0] and "已受理" in news[0]
    assert menu(news[0]) == {"查询进度": "1"}

    timeline = choose(citizen, news[0], "查询进度")  # the menu of a customer-service message works too
    assert reference in timeline and "已受理，办理中" in timeline and "已提交" in timeline
    assert timeline == say(citizen, "查询进度")
    assert status_of(runtime, reference) == apps.ACCEPTED


def test_a_step_made_while_the_wechat_window_is_closed_is_said_at_the_next_message(
        runtime: Runtime, wechat: WeChatServer, api: FakeWeChatAPI) -> None:
    citizen = wechat.follower()
    reference = apply_on_wechat(citizen)
    age(runtime, citizen.openid, hours=49)  # the citizen last wrote two days ago: WeChat takes nothing now

    office_step(runtime, reference, "ask_materials", checklist=["收入证明", "劳动合同"])
    told = step_message(runtime, reference, "ask_materials")
    failed = wait_until(lambda: (m := reload(runtime, told)).delivery_error and m, message="no delivery attempt")
    assert failed.delivery_error.startswith("wechat_window_closed")
    assert failed.delivered_at is None and failed.delivery_attempts == MAX_ATTEMPTS
    assert sent_to(api, citizen.openid) == []

    caught_up = say(citizen, "你好")
    assert "您的申请有新进展" in caught_up and reference in caught_up and "收入证明" in caught_up
    assert caught_up.index("您的申请有新进展") < caught_up.index("您好")  # the news first, then the greeting
    assert "您的申请有新进展" not in say(citizen, "你好")  # said once
    timeline = say(citizen, "查询进度")
    assert "待补充材料" in timeline and "要求补充材料" in timeline
    assert sent_to(api, citizen.openid) == []


def test_a_household_of_one_on_wechat_is_an_answer_not_the_cancel_button(
        runtime: Runtime, wechat: WeChatServer) -> None:
    citizen = wechat.follower()
    say(citizen, "申请法律援助")
    for answer in ("张三", ID_CARD, "13912345678"):
        say(citizen, answer)
    matters = say(citizen, "示例区")  # a district typed by name is taken as well
    household = choose(citizen, matters, "其他")
    assert "几口人" in household and menu(household) == {}  # a number is typed: no numbered menu to press
    after = say(citizen, "1")  # one person, living alone
    assert "收入" in after, after
    assert [m.text for m in stored(runtime, citizen.openid) if m.direction == "in"][-1] == "1"


def test_answers_to_a_form_are_not_held_as_fragments_of_a_burst(
        runtime: Runtime, wechat: WeChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.settings, "burst_window_seconds", 2.0)  # the default (conftest turns it off)
    citizen = wechat.follower()
    say(citizen, "申请法律援助")
    name = citizen.say("张三")
    then = say(citizen, ID_CARD)  # typed within two seconds of the name
    assert "电话" in then, then  # instead: 姓名请写2到20个字 (the name and the ID number read as one name)
    assert "身份证" in citizen.text_of(name), "the name got no answer of its own"


# ---- the calculators on both channels (issue 16) --------------------------------------------------------


def test_a_court_fee_is_worked_out_on_telegram_with_inline_buttons(telegram: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        citizen = TelegramCitizen(channel, fake)
        assert "案件类型" in await citizen.say("起诉要交多少诉讼费")
        assert "金额" in await citizen.press("要求给付金钱或财产")
        assert "审理方式" in await citizen.say("10万")
        done = await citizen.press("简易程序")
        # 诉讼费用交纳办法第十三条: 50 + 90,000 × 2.5% = 2,300; 第十六条: half under the simplified procedure
        assert "1,150.00" in done and "诉讼费用交纳办法第十三条" in done
        assert set(keyboard(fake.sent(CHAT)[-1])) == {"找律师咨询", "重新计算"}
    with_channel(telegram, scenario)


def test_severance_is_worked_out_on_wechat_by_typing(wechat: WeChatServer) -> None:
    citizen = wechat.follower()
    choice = say(citizen, "被公司辞退了能赔多少钱")
    assert set(menu(choice)) == {"经济补偿（解除或终止劳动合同）", "违法解除劳动合同的赔偿金"}
    assert "工作年限" in choose(citizen, choice, "经济补偿（解除或终止劳动合同）")
    assert "平均月工资" in say(citizen, "2年")
    done = say(citizen, "1")  # a typed 1 is a wage of 1 yuan (raised to the minimum wage), not a menu line
    # 劳动合同法实施条例第二十七条: below the example minimum wage of 2,300, so 2 × 2,300 = 4,600
    assert "4,600.00" in done and "劳动合同法第四十七条" in done
