"""The services menu (issue 17, part 6): 法律咨询, 法律援助, 人民调解, 公证, 办事指南, 我的咨询 are one payload
each, answered by the engine the same way whichever channel's menu sent them; 我的咨询 lists the citizen's own
consultations and applications, and nobody else's."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner
from wechatpy.exceptions import WeChatClientException

from bot import actions, cli
from bot.channels.testing import TestChat
from bot.channels.wechat import menu as wechat_menu
from bot.replies import COMMAND_MENU
from bot.runtime import Runtime
from bot.settings import get_settings
from bot.store import Citizen, Conversation
from bot.taxonomy import Outcome
from handoff.auth import create_lawyer
from services import applications as apps

ENTRIES = {"/consult": "法律咨询", "/legal_aid": "法律援助", "/mediation": "人民调解", "/notary": "公证",
           "/guide": "办事指南", "/mine": "我的咨询"}
QUESTION = "老板拖欠工资三个月了"


def answer(chat: TestChat) -> str:
    """The reply itself (a first contact's privacy notice comes before it)."""
    return chat.last.messages[-1].text


def test_the_menu_is_the_six_entries_in_order() -> None:
    assert list(actions.SERVICES_MENU) == list(ENTRIES)
    assert [b["label"] for b in actions.menu_buttons("zh")] == list(ENTRIES.values())
    assert [b["payload"] for b in actions.menu_buttons("en")] == list(ENTRIES)


@pytest.mark.parametrize("payload", list(ENTRIES))
def test_every_entry_is_answered_and_shown_by_its_label(chat: TestChat, payload: str) -> None:
    chat.press(payload)
    assert chat.last_text and "没有输入文字" not in chat.last_text
    assert chat.last.incoming.text == ENTRIES[payload]  # the transcript shows the label, not the payload


def test_consult_asks_for_the_question_and_classification_goes_on(chat: TestChat) -> None:
    chat.press("/consult")
    assert "请用一两句话说说您遇到的法律问题" in chat.last_text
    assert {"/topic:labor", "/lawyer"} <= set(chat.button_payloads())
    chat.say(QUESTION)
    assert "法律依据" in chat.last_text
    conversation = chat.conversation()
    assert conversation.topic == "labor" and conversation.pending_outcome == Outcome.answered


@pytest.mark.parametrize(("payload", "form", "words"), [("/legal_aid", "legal_aid", "法律援助"),
                                                       ("/mediation", "mediation", "人民调解"),
                                                       ("/notary", "notarization", "公证")])
def test_a_service_offers_its_form_and_the_form_starts(chat: TestChat, payload: str, form: str, words: str) -> None:
    chat.press(payload)
    assert words in chat.last_text
    buttons = chat.last.messages[-1].buttons
    assert buttons[0] == {"label": "现在申请：" + apps.forms()[form].title, "payload": "/apply:" + form}
    assert buttons[-1]["payload"] == "/lawyer"
    chat.press("/apply:" + form)
    assert "开始填写" + apps.forms()[form].title in chat.last_text


def test_legal_aid_offers_the_knowledge_bases_questions_which_are_answered(chat: TestChat) -> None:
    chat.press("/legal_aid")
    assert "《法律援助法》第二条" in chat.last_text
    questions = [p for p in chat.button_payloads() if p.startswith("/faq:")]
    assert questions and all(p.startswith("/faq:legal_aid") for p in questions)
    chat.press(questions[0])
    assert "法律依据" in chat.last_text and chat.conversation().pending_outcome == Outcome.answered


def test_the_guide_lists_the_services_and_how_to_start_each(chat: TestChat) -> None:
    chat.say("办事指南")  # typed on a channel without a menu: the same payload
    assert chat.last.incoming.kind == "command"
    text = answer(chat)
    assert text.startswith("办事指南") and "12348" in text
    for form in apps.forms().values():
        if form.slug not in ("legal_aid", "mediation", "notarization"):
            assert form.title in text  # every other form of services/data/forms.yml is named
    assert set(chat.button_payloads()) >= {"/consult", "/legal_aid", "/mediation", "/notary", "/services", "/mine"}
    chat.press("/services")
    assert "/apply:judicial_appraisal" in chat.button_payloads()


def test_mine_for_a_new_citizen_says_there_is_nothing_yet(chat: TestChat) -> None:
    chat.press("/mine")
    assert answer(chat).startswith("暂无记录")
    assert chat.button_payloads() == ["/consult", "/guide"]


def test_mine_in_english(runtime: Runtime) -> None:
    chat = TestChat(runtime.engine, user_id="en-" + uuid.uuid4().hex[:8], language="en")
    chat.press("/mine")
    assert answer(chat).startswith("Nothing yet")
    chat.say("My employer has not paid my wages for three months, what can I do?")
    chat.press("/mine")
    assert answer(chat).startswith("Your consultations (newest first):")


def _submit(runtime: Runtime, chat: TestChat, form: str) -> str:
    """An application of the chat's citizen, submitted (its filling in is tested in test_desk.py)."""
    with runtime.store.session() as session:
        citizen = session.exec(select(Citizen).where(Citizen.channel == chat.channel,
                                                     Citizen.channel_user_id == chat.user_id)).one()
        conversation = session.exec(select(Conversation).where(Conversation.citizen_id == citizen.id)).first()
        assert citizen.id is not None and conversation is not None and conversation.id is not None
        draft = apps.start_draft(session, citizen.id, conversation.id, form)
        draft.state = {"form": form, "answers": {"name": "张三", "phone": "13912345678", "district": "示例区"},
                       "stage": "submitted"}
        apps.submit(session, draft, apps.Office("tj-a", "示例调解委员会", "12348"), screening=None)
        session.commit()
        assert draft.reference is not None
        return draft.reference


def test_mine_lists_the_citizens_consultations_newest_first_and_their_applications(
        runtime: Runtime, chat: TestChat) -> None:
    chat.say(QUESTION)  # answered
    chat.say("再见")  # closes it: 已解答
    chat.say("我想找律师帮我打官司，对方是我弟弟，房子的事")  # handed off, then a lawyer resolves it
    lawyer = create_lawyer(runtime.store, f"l{uuid.uuid4().hex[:6]}", "correct horse", display_name="张")
    [view] = runtime.queue.tickets()
    assert view.ticket.id is not None
    runtime.queue.claim(view.ticket.id, lawyer)
    runtime.queue.resolve(view.ticket.id, lawyer, Outcome.resolved_by_lawyer.value,
                          "已电话联系当事人，解答了房屋产权纠纷的处理办法")
    chat.say("我的电话13912345678，邻居天天吵闹怎么办")  # an open one, in progress (the phone number is masked)
    reference = _submit(runtime, chat, "mediation")

    chat.press("/mine")
    text = answer(chat)
    lines = text.splitlines()
    assert lines[0] == "您的咨询记录（最近的在前）："
    consultations = [line for line in lines[1:4]]
    assert all(re.match(r"^· \d{1,2}月\d{1,2}日，", line) for line in consultations), consultations
    assert "[PHONE]" in consultations[0] and "13912345678" not in text
    assert "律师已处理" in consultations[1] and "“我想找律师帮我打官司" in consultations[1]
    assert consultations[2].endswith("，劳动争议，已解答：“老板拖欠工资三个月了”")
    assert "再见" not in text  # small talk is not a consultation
    assert "您的申请：" in lines
    assert f"· {reference} 人民调解申请，已提交，待受理" in text
    assert chat.button_payloads() == ["/progress", "/consult"]
    assert chat.last.messages[-1].decision == {"menu": "mine"}


def test_mine_lists_at_most_ten(chat: TestChat) -> None:
    for n in range(12):
        chat.say(f"{QUESTION}，第{n}次问")
        chat.say("再见")
    chat.press("/mine")
    items = [line for line in answer(chat).splitlines() if line.startswith("· ")]
    assert len(items) == actions.MINE_LIMIT and "第11次问" in items[0] and "第1次问" not in chat.last_text


def test_mine_never_shows_another_citizens_data(runtime: Runtime, chat: TestChat) -> None:
    chat.say(QUESTION)
    _submit(runtime, chat, "mediation")
    other = TestChat(runtime.engine, user_id="other-" + uuid.uuid4().hex[:8])
    other.press("/mine")
    assert answer(other).startswith("暂无记录") and "老板" not in other.last_text
    # the same id on another channel is another citizen too
    elsewhere = TestChat(runtime.engine, user_id=chat.user_id, channel="web")
    elsewhere.press("/mine")
    assert answer(elsewhere).startswith("暂无记录")
    chat.press("/mine")
    assert "老板拖欠工资" in chat.last_text


# ---- Telegram: the command menu -------------------------------------------------------------------------


def test_telegrams_command_menu_has_the_entries_mapped_to_the_same_payloads() -> None:
    for lang in ("zh", "en"):
        names = [name for name, _ in COMMAND_MENU[lang]]
        assert all(re.fullmatch(r"[a-z0-9_]{1,32}", n) for n in names)
        assert all(1 <= len(description) <= 256 for _, description in COMMAND_MENU[lang])
        mapped = [actions.command_payload("/" + name) for name in names]
        assert [p for p in mapped if p in ENTRIES] == list(ENTRIES)
    assert [n for n, _ in COMMAND_MENU["zh"]] == [n for n, _ in COMMAND_MENU["en"]]
    assert actions.command_payload("/mine@legalbot") == "/mine"


def test_a_typed_command_is_the_same_as_the_menu(chat: TestChat) -> None:
    chat.say("/notary")
    assert chat.last.incoming.kind == "command" and "/apply:notarization" in chat.button_payloads()


# ---- WeChat: the custom menu ------------------------------------------------------------------------------


def test_the_wechat_menu_fits_wechats_limits_and_holds_every_entry() -> None:
    data = wechat_menu.menu()
    assert wechat_menu.problems(data) == []
    assert [item["name"] for item in data["button"]] == ["法律服务", "办事指南", "我的咨询"]
    assert wechat_menu.clicks(data) == ["/consult", "/legal_aid", "/mediation", "/notary", "/lawyer", "/guide", "/mine"]
    too_many = {"button": [*data["button"], {"type": "click", "name": "第四个名字太长了", "key": "/menu"}]}
    assert len(wechat_menu.problems(too_many)) == 2  # four top-level buttons, a name over 16 bytes


def test_every_wechat_menu_key_is_answered(runtime: Runtime) -> None:
    for key in wechat_menu.clicks():
        citizen = TestChat(runtime.engine, user_id="o" + uuid.uuid4().hex[:27], channel="wechat")
        citizen.event(key)  # what the channel makes of a CLICK event (tests/test_wechat.py pushes one)
        assert citizen.last_text and "没有输入文字" not in citizen.last_text, key


class FakeMenuAPI:
    def __init__(self, refuse: bool = False) -> None:
        self.created: list[dict[str, Any]] = []
        self.refuse = refuse

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            raise WeChatClientException(40018, "invalid button name size")
        self.created.append(data)
        return {"errcode": 0, "errmsg": "ok"}


class FakeClient:
    def __init__(self, refuse: bool = False) -> None:
        self.menu = FakeMenuAPI(refuse)
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def wechat_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LEGALBOT_WECHAT_APP_ID", "wx-test")
    monkeypatch.setenv("LEGALBOT_WECHAT_APP_SECRET", "not-a-real-secret")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_the_cli_publishes_the_menu_through_wechatpy(wechat_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient()
    monkeypatch.setattr(cli, "_wechat_client", lambda settings: fake)
    result = wechat_cli.invoke(cli.app, ["wechat", "menu"])
    assert result.exit_code == 0, result.output
    assert fake.menu.created == [wechat_menu.menu()] and fake.closed
    assert "法律服务 ▸ 法律咨询/法律援助/人民调解/公证/转接律师 | 办事指南 | 我的咨询" in result.output


def test_the_cli_shows_the_menu_without_publishing(wechat_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_wechat_client", lambda settings: pytest.fail("nothing is published with --show"))
    result = wechat_cli.invoke(cli.app, ["wechat", "menu", "--show"])
    assert result.exit_code == 0 and json.loads(result.output) == wechat_menu.menu()


def test_the_cli_says_why_wechat_refused(wechat_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient(refuse=True)
    monkeypatch.setattr(cli, "_wechat_client", lambda settings: fake)
    result = wechat_cli.invoke(cli.app, ["wechat", "menu"])
    assert result.exit_code == 1 and "40018" in result.output and fake.closed


def test_the_cli_needs_the_accounts_credentials(wechat_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEGALBOT_WECHAT_APP_SECRET")
    get_settings.cache_clear()
    monkeypatch.setattr(cli, "_wechat_client", lambda settings: pytest.fail("no client without credentials"))
    result = wechat_cli.invoke(cli.app, ["wechat", "menu"])
    assert result.exit_code == 1 and "LEGALBOT_WECHAT_APP_SECRET" in result.output
