"""Telegram lawyer mode, through python-telegram-bot's real code against the fake Bot API.

Lawyers link their account with a one-time code, claim from the lawyers' group, talk with the citizen in
their private chat with the bot and resolve there. What lawyers and citizens see is what the fake Bot API
received. The desk's background loop is stopped in most tests and ``settle`` runs its sync pass instead,
so each step can be checked in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.channels.telegram import FloodLimiter, TelegramChannel
from bot.channels.telegram.lawyers import LawyerDesk, parse_resolve
from bot.runtime import Runtime
from bot.store import AuditEntry, Conversation, HandoffTicket, Lawyer, Message, TelegramTicketSync, utcnow
from bot.taxonomy import Outcome, TicketStatus
from handoff.auth import create_lawyer, issue_telegram_link
from tests.fakes.telegram_api import FakeTelegramAPI, running
from tests.test_telegram import CHAT, callback_data, configured, feed, until, with_channel

GROUP = -1001234567890
ZHANG, LI, STRANGER = 7001, 7002, 7999

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with running(FakeTelegramAPI()) as api:
        yield api


@pytest.fixture
def rt(runtime: Runtime, fake: FakeTelegramAPI, tmp_path: Path) -> Runtime:
    return configured(runtime, fake, tmp_path / "centres.yml", telegram_lawyers_chat_id=GROUP)


@pytest.fixture
def lawyers(rt: Runtime) -> dict[int, Lawyer]:
    return {ZHANG: create_lawyer(rt.store, "zhang", "password-123", display_name="张律师", topics=["labor"]),
            LI: create_lawyer(rt.store, "li", "password-123", display_name="李律师")}


async def quiet(channel: TelegramChannel) -> TelegramChannel:
    """Stop the desk's background loop: the test runs each sync pass itself."""
    await channel.desk.stop()
    return channel


async def settle(channel: TelegramChannel) -> None:
    await channel.desk.sync()
    await channel.drain()


async def link(channel: TelegramChannel, fake: FakeTelegramAPI, rt: Runtime, telegram_id: int, lawyer: Lawyer) -> None:
    assert lawyer.id is not None
    code = issue_telegram_link(rt.store, lawyer.id)
    await feed(channel, fake.text_update(telegram_id, f"/link {code}"))


async def hand_off(channel: TelegramChannel, fake: FakeTelegramAPI, text: str = "老板拖欠我三个月工资一共两万元，我想找律师",
                   chat: int = CHAT) -> int:
    await feed(channel, fake.text_update(chat, text))
    await feed(channel, fake.text_update(chat, "/lawyer"))
    with channel.store.session() as session:
        ticket = session.exec(select(HandoffTicket).order_by(col(HandoffTicket.id).desc())).first()
    assert ticket is not None and ticket.id is not None
    return ticket.id


def ticket(rt: Runtime, ticket_id: int) -> HandoffTicket:
    with rt.store.session() as session:
        found = session.get(HandoffTicket, ticket_id)
    assert found is not None
    return found


def group_posts(fake: FakeTelegramAPI) -> list[dict[str, Any]]:
    return fake.sent(GROUP)


def edits(fake: FakeTelegramAPI) -> list[str]:
    return [str(c.params["text"]) for c in fake.calls_to("editMessageText")]


def alerts(fake: FakeTelegramAPI) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.calls_to("answerCallbackQuery") if c.params.get("show_alert")]


# ---- the whole way -------------------------------------------------------------------------------


def test_a_lawyer_links_claims_in_the_group_talks_in_private_and_resolves(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        assert "已绑定律师账号：张律师" in fake.texts(ZHANG)[-1]

        ticket_id = await hand_off(channel, fake)
        await settle(channel)
        [post] = group_posts(fake)
        assert f"#{ticket_id}" in post["text"] and "劳动争议" in post["text"] and "两万元" in post["text"]
        assert callback_data(post) == [f"/claim:{ticket_id}"]

        # Somebody in the group without a linked account cannot claim.
        await feed(channel, fake.group_callback_update(GROUP, STRANGER, f"/claim:{ticket_id}"))
        assert "还没有绑定律师账号" in alerts(fake)[-1]
        assert ticket(rt, ticket_id).status == TicketStatus.waiting

        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{ticket_id}"))
        assert ticket(rt, ticket_id).status == TicketStatus.claimed
        await settle(channel)
        assert "已由 张律师 接手" in edits(fake)[-1]
        brief = fake.texts(ZHANG)[-1]
        assert f"工单 #{ticket_id}" in brief and "老板拖欠我三个月工资" in brief and "金额：20000元" in brief
        await until(lambda: any("张律师律师已接入" in text for text in fake.texts(CHAT)))

        # What the lawyer writes in private reaches the citizen; the citizen's answer reaches the lawyer.
        await feed(channel, fake.text_update(ZHANG, "您好，请问有劳动合同吗？"))
        await channel.drain()
        await until(lambda: "您好，请问有劳动合同吗？" in fake.texts(CHAT))
        await feed(channel, fake.text_update(CHAT, "有的，签了两年"))
        await settle(channel)
        assert fake.texts(ZHANG)[-1] == f"💬 #{ticket_id} 市民：有的，签了两年"

        await feed(channel, fake.text_update(ZHANG, "/note 建议先申请劳动仲裁"))
        assert "已添加备注" in fake.texts(ZHANG)[-1]
        await feed(channel, fake.text_update(ZHANG, "/resolve"))
        assert callback_data(fake.sent(ZHANG)[-1]) == [f"/resolve:{ticket_id}:{o}" for o in
                                                       ("resolved_by_lawyer", "referred", "emergency_referred", "out_of_scope")]
        await feed(channel, fake.callback_update(ZHANG, f"/resolve:{ticket_id}:resolved_by_lawyer"))
        asked = fake.sent(ZHANG)[-1]  # a summary first, answered with Telegram's reply
        assert asked["text"].startswith(f"工单 #{ticket_id} 结案（已解答）") and "#需要回访" in asked["text"]
        assert asked["reply_markup"]["force_reply"] is True
        await feed(channel, fake.text_update(ZHANG, "好", reply_to=asked["text"]))
        assert "摘要太短" in fake.texts(ZHANG)[-1]
        assert ticket(rt, ticket_id).status == TicketStatus.claimed
        await feed(channel, fake.text_update(ZHANG, "已告知可申请劳动仲裁 #引导劳动仲裁", reply_to=fake.texts(ZHANG)[-1]))
        await settle(channel)
        assert "已结案：已解答" in fake.texts(ZHANG)[-1]
        assert "已结束：已解答" in edits(fake)[-1]
        await until(lambda: any("请为本次服务打分" in text for text in fake.texts(CHAT)))
        return ticket_id

    ticket_id = with_channel(rt, scenario)
    done = ticket(rt, ticket_id)
    assert done.status == TicketStatus.resolved and done.outcome == Outcome.resolved_by_lawyer
    assert (done.summary, done.tags) == ("已告知可申请劳动仲裁", ["guided_to_arbitration"])
    with rt.store.session() as session:
        conversation = session.get(Conversation, done.conversation_id)
        assert conversation is not None and conversation.outcome == Outcome.resolved_by_lawyer
        said = session.exec(select(Message.text).where(Message.sender == "lawyer")).all()
        actions = session.exec(select(AuditEntry.action).where(AuditEntry.ticket_id == ticket_id)).all()
    assert said == ["您好，请问有劳动合同吗？"]
    assert {"claim", "reply", "note", "resolve"} <= set(actions)


def test_two_lawyers_pressing_claim_together_get_it_once(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        await link(channel, fake, rt, LI, lawyers[LI])
        ticket_id = await hand_off(channel, fake)
        await settle(channel)
        presses = [channel.handle_update(_update(channel, fake.group_callback_update(GROUP, who, f"/claim:{ticket_id}")))
                   for who in (ZHANG, LI)]
        await asyncio.gather(*presses)
        await settle(channel)
        return ticket_id

    ticket_id = with_channel(rt, scenario)
    claimed = ticket(rt, ticket_id)
    assert claimed.status == TicketStatus.claimed
    winner = ZHANG if claimed.lawyer_id == lawyers[ZHANG].id else LI
    loser = LI if winner == ZHANG else ZHANG
    assert alerts(fake) == ["该工单已被其他律师接手或已结束"]
    assert any(f"工单 #{ticket_id}" in text for text in fake.texts(winner))
    assert not any(f"工单 #{ticket_id}" in text for text in fake.texts(loser))
    assert len(edits(fake)) == 1


def _update(channel: TelegramChannel, data: dict[str, Any]) -> Any:
    from telegram import Update

    return Update.de_json(data, channel.bot)


# ---- linking -------------------------------------------------------------------------------------


def test_link_codes_are_single_use_and_expire(rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    zhang = lawyers[ZHANG]
    assert zhang.id is not None
    code = issue_telegram_link(rt.store, zhang.id)

    async def scenario(channel: TelegramChannel) -> None:
        await quiet(channel)
        await feed(channel, fake.text_update(ZHANG, "/link wrong-code-123"))
        assert "绑定码无效或已过期" in fake.texts(ZHANG)[-1]
        await feed(channel, fake.text_update(ZHANG, f"/start link-{code}"))  # the deep link form
        assert "已绑定律师账号" in fake.texts(ZHANG)[-1]
        await feed(channel, fake.text_update(LI, f"/link {code}"))  # used once already
        assert "绑定码无效或已过期" in fake.texts(LI)[-1]

        late = issue_telegram_link(rt.store, zhang.id)
        with rt.store.session() as session:
            session.execute(update(Lawyer).where(col(Lawyer.id) == zhang.id)
                            .values(telegram_link_expires_at=utcnow() - dt.timedelta(seconds=1)))
            session.commit()
        await feed(channel, fake.text_update(STRANGER, f"/link {late}"))
        assert "绑定码无效或已过期" in fake.texts(STRANGER)[-1]

        # An unlinked person's messages are a citizen's; a linked lawyer's are not.
        await feed(channel, fake.text_update(STRANGER, "你好"))
        await feed(channel, fake.text_update(ZHANG, "你好"))
        assert "当前工单" not in fake.texts(STRANGER)[-1]
        assert "没有正在处理的工单" in fake.texts(ZHANG)[-1]

        menu = [c for c in fake.calls_to("setMyCommands") if "scope" in c.params]
        assert {json.loads(c.params["scope"])["chat_id"] for c in menu} == {GROUP, ZHANG}
        lawyer_menu = next(c for c in menu if json.loads(c.params["scope"])["chat_id"] == ZHANG)
        assert "resolve" in [cmd["command"] for cmd in json.loads(lawyer_menu.params["commands"])]

        await feed(channel, fake.text_update(ZHANG, "/unlink"))
        assert "已解除绑定" in fake.texts(ZHANG)[-1]
        [removed] = fake.calls_to("deleteMyCommands")
        assert json.loads(removed.params["scope"])["chat_id"] == ZHANG

    with_channel(rt, scenario)
    with rt.store.session() as session:
        assert session.exec(select(Lawyer.telegram_user_id).where(Lawyer.id == zhang.id)).one() is None
        actions = session.exec(select(AuditEntry.action).where(AuditEntry.lawyer_id == zhang.id)).all()
    assert actions.count("telegram_linked") == 1 and "telegram_unlinked" in actions


# ---- SLA timers and moves ------------------------------------------------------------------------


def test_an_escalation_is_posted_again_and_a_quiet_chat_reminds_the_lawyer(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        ticket_id = await hand_off(channel, fake)
        await settle(channel)
        rt.queue.sla_pass(dt.timedelta(0), dt.timedelta(hours=1))
        await settle(channel)
        first, second = group_posts(fake)
        assert "超时未接手" in second["text"] and callback_data(second) == [f"/claim:{ticket_id}"]
        assert "超时未接手" in edits(fake)[-1] and "紧急" not in edits(fake)[-1]  # the first post loses its button
        await settle(channel)
        assert len(group_posts(fake)) == 2  # nothing more once up to date

        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{ticket_id}"))
        await settle(channel)
        rt.queue.sla_pass(dt.timedelta(hours=1), dt.timedelta(0))
        await settle(channel)
        assert f"工单 #{ticket_id} 的市民在等您的回复" in fake.texts(ZHANG)[-1]
        assert callback_data(fake.sent(ZHANG)[-1]) == [f"/use:{ticket_id}"]
        await settle(channel)
        assert sum("在等您的回复" in text for text in fake.texts(ZHANG)) == 1
        return ticket_id

    with_channel(rt, scenario)


def test_release_and_transfer_tell_the_lawyers_and_the_group(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        await link(channel, fake, rt, LI, lawyers[LI])
        ticket_id = await hand_off(channel, fake)
        await settle(channel)
        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{ticket_id}"))
        await settle(channel)

        await feed(channel, fake.text_update(ZHANG, "/release"))
        await settle(channel)
        assert f"工单 #{ticket_id} 已退回队列" in fake.texts(ZHANG)[-1]
        assert len(group_posts(fake)) == 2 and callback_data(group_posts(fake)[-1]) == [f"/claim:{ticket_id}"]
        assert "已退回队列" in edits(fake)[-1]

        await feed(channel, fake.text_update(ZHANG, "/next"))  # routing gives it back: the only waiting one
        await settle(channel)
        assert ticket(rt, ticket_id).lawyer_id == lawyers[ZHANG].id
        await feed(channel, fake.text_update(ZHANG, "/transfer li"))
        await settle(channel)
        assert "已转给 李律师" in fake.texts(ZHANG)[-1]
        assert f"工单 #{ticket_id}" in fake.texts(LI)[-1]  # 李律师 gets the packet
        await feed(channel, fake.text_update(ZHANG, "还在吗？"))  # no longer his chat
        assert "没有正在处理的工单" in fake.texts(ZHANG)[-1]
        await feed(channel, fake.text_update(LI, "我是李律师，接着为您处理。"))
        await channel.drain()
        await until(lambda: "我是李律师，接着为您处理。" in fake.texts(CHAT))
        return ticket_id

    with_channel(rt, scenario)


def test_a_cancelled_ticket_and_an_idle_chat_are_closed_on_telegram_too(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        cancelled = await hand_off(channel, fake)
        await settle(channel)
        await feed(channel, fake.callback_update(CHAT, "/cancel"))  # while still waiting
        await settle(channel)
        assert ticket(rt, cancelled).status == TicketStatus.cancelled
        assert f"#{cancelled} 已结束：市民已取消" in edits(fake)[-1]

        idle = await hand_off(channel, fake, "房东不退押金，我要找律师")
        await settle(channel)
        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{idle}"))
        await settle(channel)
        later = utcnow() + dt.timedelta(minutes=rt.settings.idle_timeout_lawyer_minutes + 1)
        rt.engine.sweep(now=later)
        await settle(channel)
        assert ticket(rt, idle).status == TicketStatus.expired
        assert f"工单 #{idle} 因长时间没有消息已关闭" in fake.texts(ZHANG)[-1]
        assert f"#{idle} 已结束：已超时关闭" in edits(fake)[-1]
        await feed(channel, fake.text_update(ZHANG, "/resolve 已解答"))
        assert "没有正在处理的工单" in fake.texts(ZHANG)[-1]

    with_channel(rt, scenario)


# ---- nothing lost, nothing twice -----------------------------------------------------------------


def test_posts_made_while_telegram_was_away_go_out_once_it_is_back(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def first_run(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        ticket_id = await hand_off(channel, fake)
        fake.fail_next("sendMessage", times=1, status=502, retry_after=None, description="Bad Gateway")
        await settle(channel)
        assert group_posts(fake) == []
        with rt.store.session() as session:
            sync = session.get(TelegramTicketSync, ticket_id)
            assert sync is not None and sync.error and sync.lease_until is None
        return ticket_id

    ticket_id = with_channel(rt, first_run)

    async def after_restart(channel: TelegramChannel) -> None:  # the background loop does it this time
        await until(lambda: len(group_posts(fake)) == 1)
        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{ticket_id}"))
        await until(lambda: any(f"工单 #{ticket_id}" in text for text in fake.texts(ZHANG)))
        await until(lambda: any("已由 张律师 接手" in text for text in edits(fake)))

    with_channel(rt, after_restart)
    assert len(group_posts(fake)) == 1


def test_two_workers_never_post_the_same_ticket_twice(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> None:
        await quiet(channel)
        for n in range(3):
            await hand_off(channel, fake, f"第{n}个问题：公司拖欠工资，我要找律师", chat=CHAT + 1 + n)
        other = LawyerDesk(rt.store, rt.queue, lambda: channel.bot, GROUP)
        await asyncio.gather(channel.desk.sync(), other.sync(), channel.desk.sync(), other.sync())

    with_channel(rt, scenario)
    posted = [p["text"] for p in group_posts(fake)]
    assert len(posted) == 3 and len(set(posted)) == 3


def test_a_lawyer_on_telegram_keeps_a_chat_while_the_citizen_is_not_waiting(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        ticket_id = await hand_off(channel, fake)
        await feed(channel, fake.group_callback_update(GROUP, ZHANG, f"/claim:{ticket_id}"))
        await feed(channel, fake.text_update(ZHANG, "请把合同拍照发给我看看。"))
        return ticket_id

    ticket_id = with_channel(rt, scenario)
    offline = dt.timedelta(minutes=15)
    later = utcnow() + dt.timedelta(minutes=40)
    assert rt.queue.release_stale_claims(offline, now=later) == []  # the ball is in the citizen's court
    with rt.store.session() as session:
        conversation_id = ticket(rt, ticket_id).conversation_id
        citizen_id = session.exec(select(Conversation.citizen_id).where(Conversation.id == conversation_id)).one()
        session.add(Message(conversation_id=conversation_id, citizen_id=citizen_id, direction="in", sender="citizen",
                            text="发不了照片怎么办", created_at=utcnow() + dt.timedelta(minutes=20)))
        session.commit()
    assert rt.queue.release_stale_claims(offline, now=utcnow() + dt.timedelta(minutes=30)) == []  # 10 min unanswered
    assert rt.queue.release_stale_claims(offline, now=later) == [ticket_id]  # 20 min unanswered, lawyer unseen


def test_resolve_with_a_summary_and_tags_in_one_command(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        ticket_id = await hand_off(channel, fake)
        await feed(channel, fake.text_update(ZHANG, "/next"))
        await settle(channel)
        await feed(channel, fake.text_update(ZHANG, "/resolve 转介 建议向劳动监察大队投诉 #转介其他部门 #needs_follow_up"))
        await settle(channel)
        assert "已结案：已转介" in fake.texts(ZHANG)[-1]
        return ticket_id

    done = ticket(rt, with_channel(rt, scenario))
    assert (done.status, done.outcome) == (TicketStatus.resolved, Outcome.referred)
    assert (done.summary, done.tags) == ("建议向劳动监察大队投诉", ["referred_to_agency", "needs_follow_up"])


def test_resolve_words() -> None:
    assert parse_resolve("已解答 告知了仲裁时效") == (Outcome.resolved_by_lawyer, "告知了仲裁时效")
    assert parse_resolve("referred") == (Outcome.referred, "")
    assert parse_resolve("紧急") == (Outcome.emergency_referred, "")
    assert parse_resolve("abandoned")[0] is None  # not an outcome a lawyer may choose
    assert parse_resolve("") == (None, "")


# ---- where the code comes from -------------------------------------------------------------------


def test_the_console_gives_a_link_code_that_links_the_account(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    from fastapi.testclient import TestClient

    from bot.app import create_app

    channel = TelegramChannel(rt, rate_limiter=FloodLimiter(chat_rate=0))
    with TestClient(create_app(rt, run_sweeper=False, channels=[channel])) as client:
        assert client.post("/api/console/telegram/link").status_code == 401
        login = client.post("/api/console/login", json={"username": "zhang", "password": "password-123"})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        assert client.get("/api/console/me").json()["telegram"] == {"available": True, "linked": False}
        command = client.post("/api/console/telegram/link").json()["command"]
        assert command.startswith("/link ")
        response = client.post("/webhooks/telegram", json=fake.text_update(ZHANG, command),
                               headers={"X-Telegram-Bot-Api-Secret-Token": channel.secret_token})
        assert response.status_code == 200
        assert client.get("/api/console/me").json()["telegram"]["linked"] is True
        assert client.post("/api/console/telegram/unlink").json() == {"unlinked": True}
    assert "已绑定律师账号：张律师" in fake.texts(ZHANG)[-1]


def test_without_telegram_the_console_offers_no_link(runtime: Runtime) -> None:
    from fastapi.testclient import TestClient

    from bot.app import create_app

    create_lawyer(runtime.store, "zhang", "password-123")
    with TestClient(create_app(runtime, run_sweeper=False, channels=[])) as client:
        login = client.post("/api/console/login", json={"username": "zhang", "password": "password-123"})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        assert client.get("/api/console/me").json()["telegram"]["available"] is False
        response = client.post("/api/console/telegram/link")
        assert response.status_code == 409 and "Telegram" in response.json()["detail"]


def test_wrong_commands_and_stale_buttons_get_a_clear_answer(
        rt: Runtime, fake: FakeTelegramAPI, lawyers: dict[int, Lawyer]) -> None:
    async def scenario(channel: TelegramChannel) -> int:
        await quiet(channel)
        await link(channel, fake, rt, ZHANG, lawyers[ZHANG])
        await link(channel, fake, rt, LI, lawyers[LI])
        ticket_id = await hand_off(channel, fake)
        await feed(channel, fake.text_update(ZHANG, "/next"))
        await settle(channel)

        async def says(who: int, update: dict[str, Any], expected: str) -> None:
            await feed(channel, update)
            assert expected in fake.texts(who)[-1], fake.texts(who)[-1]

        await says(ZHANG, fake.text_update(ZHANG, "/use abc"), "不是您正在处理的工单")
        await says(ZHANG, fake.text_update(ZHANG, "/transfer nobody"), "没有这位律师：nobody")
        await says(ZHANG, fake.text_update(ZHANG, "/transfer"), "请写上同事的用户名")
        await says(ZHANG, fake.text_update(ZHANG, "/resolve 不知道"), "不认识结果「不知道」")
        await says(ZHANG, fake.text_update(ZHANG, "/note"), "备注不能为空")
        await says(ZHANG, fake.text_update(ZHANG, "/whatever"), "律师模式")
        await says(ZHANG, fake.media_update(ZHANG, "photo"), "请用文字回复")
        await says(LI, fake.text_update(LI, "您好"), "没有正在处理的工单")
        # 李律师 presses a stale resolve button for 张律师's chat, and /use on it
        await says(LI, fake.callback_update(LI, f"/resolve:{ticket_id}:resolved_by_lawyer"), "不是您正在处理的工单")
        # … or answers a summary request for it: refused, and never forwarded to anybody's citizen
        await says(LI, fake.text_update(LI, "已告知仲裁时效", reply_to=f"工单 #{ticket_id} 结案（已解答）：请回复"),
                   "只有接手该工单的律师")
        await says(ZHANG, fake.text_update(ZHANG, "/resolve 已解答"), f"工单 #{ticket_id} 结案（已解答）：请回复这条消息")
        await says(ZHANG, fake.callback_update(ZHANG, f"/resolve:{ticket_id}:answered"), f"工单 #{ticket_id} 结案（已解答）")
        await says(LI, fake.text_update(LI, f"/use {ticket_id}"), "不是您正在处理的工单")
        await feed(channel, fake.group_callback_update(GROUP, LI, f"/claim:{ticket_id}"))
        await feed(channel, fake.group_callback_update(GROUP, LI, "/claim:not-a-number"))
        await feed(channel, fake.group_callback_update(GROUP, LI, "/something-else"))
        await feed(channel, fake.group_text_update(GROUP, LI, "大家好，今天我值班"))
        assert alerts(fake) == ["该工单已被其他律师接手或已结束", "这个按钮已失效。"]
        await says(ZHANG, fake.text_update(ZHANG, "/tickets"), f"#{ticket_id}（当前）")
        return ticket_id

    still = ticket(rt, with_channel(rt, scenario))
    assert still.status == TicketStatus.claimed and still.lawyer_id == lawyers[ZHANG].id


def test_queue_in_the_group_lists_the_waiting_chats_with_claim_buttons(rt: Runtime, fake: FakeTelegramAPI) -> None:
    async def scenario(channel: TelegramChannel) -> list[int]:
        await quiet(channel)
        await feed(channel, fake.group_text_update(GROUP, LI, "/queue"))
        assert fake.texts(GROUP)[-1] == "队列里没有等待中的咨询。"
        wage = await hand_off(channel, fake)
        danger = await hand_off(channel, fake, "我老公天天打我，刚才又动手了，我很害怕", chat=CHAT + 1)
        await feed(channel, fake.group_text_update(GROUP, LI, "/queue@legalbot_test_bot"))
        return [danger, wage]

    danger, wage = with_channel(rt, scenario)
    listing = group_posts(fake)[-1]
    assert callback_data(listing) == [f"/claim:{danger}", f"/claim:{wage}"]  # the urgent one first
    assert f"🔴 #{danger} " in listing["text"] and f"\n#{wage} 劳动争议" in listing["text"]
