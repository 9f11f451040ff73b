"""What a citizen can ask for besides a question is decided once, in the engine, for every channel."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import create_app
from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import Citizen, Conversation, HandoffTicket, Message
from bot.taxonomy import ConversationStatus, Outcome, TicketStatus

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:httpx.*")


@pytest.mark.parametrize("typed", ["帮助", "help", "/help", "/whatever"])
def test_help_is_a_keyword_or_a_command_on_any_channel(chat: TestChat, typed: str) -> None:
    chat.say(typed)
    assert "删除我的数据" in chat.last_text
    assert {"/menu", "/lawyer"} <= set(chat.button_payloads())
    assert chat.last.incoming.kind == "command" and chat.last.incoming.text == typed


def test_menu_keyword_and_start_show_the_categories(chat: TestChat) -> None:
    chat.say("/start")
    assert "/topic:labor" in chat.button_payloads()
    chat.say("菜单")
    assert "/topic:labor" in chat.button_payloads() and "我不是律师" not in chat.last_text  # notice once


def test_privacy_offers_deletion_which_asks_before_deleting(chat: TestChat) -> None:
    chat.say("老板拖欠工资三个月了")
    chat.say("隐私")
    assert "隐私说明" in chat.last_text and chat.button_payloads() == ["/delete_my_data"]
    chat.press("/delete_my_data")
    assert chat.button_payloads() == ["/delete_my_data:confirm", "/delete_my_data:cancel"]
    chat.press("/delete_my_data:cancel")
    assert "没有删除" in chat.last_text
    with chat.engine.store.session() as session:
        assert session.exec(select(Message)).all()


def test_deleting_ones_data_keeps_only_anonymous_counts(runtime: Runtime, chat: TestChat) -> None:
    chat.say("我想找律师")  # a handoff: the ticket is cancelled by the deletion
    conversation_id = chat.last.conversation_id
    chat.press("/delete_my_data:confirm")
    assert chat.notices and "已删除" in chat.notices[0] and chat.last.messages == []
    with runtime.store.session() as session:
        assert session.exec(select(Message)).all() == []  # not even the press is kept
        citizen = session.exec(select(Citizen)).one()
        assert citizen.channel_user_id.startswith("erased:")
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.outcome == Outcome.withdrawn
        ticket = session.exec(select(HandoffTicket)).one()
        assert ticket.status == TicketStatus.cancelled and ticket.packet == {}
    chat.press("/delete_my_data:confirm")
    assert "没有保存" in chat.notices[0]


def test_the_typed_keyword_deletes_too_after_confirming(chat: TestChat) -> None:
    chat.say("房东不退押金怎么办")
    chat.say("删除我的数据")
    assert chat.button_payloads() == ["/delete_my_data:confirm", "/delete_my_data:cancel"]


def test_the_language_switch(chat: TestChat) -> None:
    chat.say("/language")
    assert chat.button_payloads() == ["/language:zh", "/language:en"]
    chat.press("/language:en")
    assert chat.last_text == "Language set to English." and chat.last.incoming.text == "English"
    chat.say("/menu")  # no words to read a language from: the chosen one
    assert "Hello" in chat.last_text
    chat.say("你好")  # a reply is in the language of the message it answers
    assert "您好" in chat.last_text


def test_a_shared_location_gets_the_nearest_centre_and_counts_as_a_referral(chat: TestChat) -> None:
    chat.share_location(30.2741, 120.1551)
    assert "公共法律服务中心" in chat.last_text and "公里" in chat.last_text
    assert chat.last.incoming.kind == "location" and "30.27" not in str(chat.last.incoming.decision)
    assert chat.conversation().pending_outcome == Outcome.referred


def test_a_location_out_of_range_is_answered_not_crashed(chat: TestChat) -> None:
    chat.share_location(95.0, 200.0)
    assert "12348" in chat.last_text and chat.conversation().pending_outcome is None


def test_subscribing_welcomes_once_without_repeating_the_greeting(chat: TestChat) -> None:
    chat.event("/menu")
    texts = [m.text for m in chat.last.messages]
    assert len(texts) == 2 and "我不是律师" in texts[0] and "/topic:labor" in chat.button_payloads()
    chat.say("你好")
    assert "我不是律师" not in chat.last_text


def test_unsubscribing_before_writing_stores_nothing(runtime: Runtime, chat: TestChat) -> None:
    chat.event("/unsubscribe")
    with runtime.store.session() as session:
        assert session.exec(select(Citizen)).all() == []


def test_web_chat_deletes_data_and_says_so_without_storing_it(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, run_sweeper=False)) as http:
        started = http.post("/api/chat").json()
        http.headers["X-Chat-Secret"] = started["secret"]
        url = f"/api/chat/{started['id']}/messages"
        assert http.post(url, json={"text": "老板拖欠工资三个月了"}).status_code == 200
        asked = http.post(url, json={"payload": "/delete_my_data"}).json()
        assert [b["payload"] for b in asked["messages"][-1]["buttons"]] == ["/delete_my_data:confirm",
                                                                           "/delete_my_data:cancel"]
        done = http.post(url, json={"payload": "/delete_my_data:confirm"}).json()
        assert done["messages"] == [] and "已删除" in done["notices"][0]
        assert http.get(url).json()["messages"] == []


def test_a_closed_conversation_is_never_reopened_by_a_status_change(chat: TestChat) -> None:
    chat.say("我想找律师")
    chat.press("/cancel")
    assert chat.conversation().status == ConversationStatus.closed
    chat.say("这个事情我该怎么办啊")  # starts a new conversation
    assert chat.last.conversation_id != chat.replies[0].conversation_id
