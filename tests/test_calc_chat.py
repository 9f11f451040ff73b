"""The calculators in a conversation (calculators/conversation.py through the engine): a question asking for
an amount starts the calculator, which asks one thing at a time (buttons only for closed choices), reads
amounts and durations from free text, takes corrections, and shows the figure with its articles, a caveat
and a lawyer button; a question about the same things that asks no amount is answered as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.channels.testing import TestChat
from bot.runtime import Runtime
from bot.store import Conversation
from bot.taxonomy import Outcome
from calculators.dialogue import CANCEL, CHOICE, SKIP, START
from calculators.intent import detect
from tests.test_desk import payloads, texts

HELD_OUT = Path(__file__).resolve().parents[1] / "nlu" / "eval" / "calculator_requests.yml"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'legalbot.db'}"


def conversation(runtime: Runtime, chat: TestChat) -> Conversation:
    with runtime.store.session() as session:
        found = session.get(Conversation, chat.conversation().id)
        assert found is not None
        return found


def test_severance_from_the_first_message_asks_only_what_is_missing(runtime: Runtime, chat: TestChat) -> None:
    # 劳动合同法第四十七条: 8 full years, 8,000 a month (under three times the example city's 9,000 average):
    # 8 × 8,000 = 64,000.
    replies = chat.say("我在公司干了8年，月薪8000，现在公司以经济性裁员为由让我走，经济补偿能拿多少？")
    said = texts(replies)
    assert "64,000.00" in said and "劳动合同法第四十七条" in said
    assert "仲裁委员会或法院" in said  # the caveat
    assert "/lawyer" in payloads(replies)
    assert conversation(runtime, chat).pending_outcome == Outcome.answered.value


def test_one_question_at_a_time_with_free_text_and_a_correction(runtime: Runtime, chat: TestChat) -> None:
    first = texts(chat.say("被裁员了，经济补偿怎么算"))
    assert "工作年限" in first and "月工资" not in first.split("工作年限")[1][:30]
    asked_wage = chat.say("五年零七个月")
    assert "平均月工资" in texts(asked_wage) and payloads(asked_wage) == []  # a typed answer: no buttons
    wrong = texts(chat.say("abc"))
    assert "看不懂" in wrong and "平均月工资" in wrong  # asked again, saying what is wrong
    # 5 years 7 months: six months or more counts as a year, so 6 months' wages; 6 × 6,000 = 36,000
    assert "36,000.00" in texts(chat.say("大概每个月6000块左右"))
    # "改一下工资" after the result: asked again, and worked out again; 6 × 7,000 = 42,000
    assert "平均月工资" in texts(chat.say("改一下工资"))
    assert "42,000.00" in texts(chat.say("7000"))


def test_dismissal_without_saying_whether_lawful_offers_both(chat: TestChat) -> None:
    replies = chat.say("被公司辞退了能赔多少钱")
    assert set(payloads(replies)) == {START + "severance", START + "unlawful_termination"}
    asked = texts(chat.press(START + "unlawful_termination"))
    assert "工作年限" in asked
    chat.say("3年")
    # 劳动合同法第八十七条: twice the art. 47 amount; 3 years × 5,000 × 2 = 30,000
    assert "30,000.00" in texts(chat.say("5000"))


def test_closed_choices_are_buttons_and_an_optional_question_can_be_skipped(chat: TestChat) -> None:
    replies = chat.say("起诉要交多少诉讼费")
    assert CHOICE + "property" in payloads(replies) and CANCEL in payloads(replies)
    chat.press(CHOICE + "property")
    asked = chat.say("10万")
    assert CHOICE + "simplified" in payloads(asked)
    # 诉讼费用交纳办法第十三条: 50 + 90,000 × 2.5% = 2,300; 第十六条: simplified procedure, half: 1,150
    assert "1,150.00" in texts(chat.press(CHOICE + "simplified"))


def test_injury_grade_in_the_first_message(chat: TestChat) -> None:
    replies = chat.say("工伤评了七级伤残，一次性伤残补助金能拿多少")
    assert "月缴费工资" in texts(replies)
    # 工伤保险条例第三十七条: grade 7, 13 months of one's own wage: 13 × 6,000 = 78,000
    assert "78,000.00" in texts(chat.say("6000"))


def test_cancel_ends_it_and_a_new_question_is_answered_as_usual(runtime: Runtime, chat: TestChat) -> None:
    chat.say("加班费怎么算")
    assert "好的" in texts(chat.say("取消")) and conversation(runtime, chat).calculation is None
    chat.say("加班费怎么算")
    replies = chat.say("公司一直拖欠工资不发，我应该去哪里投诉")  # not an answer to "月工资"
    assert conversation(runtime, chat).calculation is None
    assert "加班费" not in texts(replies)


def test_a_question_that_asks_no_amount_is_not_a_calculation(runtime: Runtime, chat: TestChat) -> None:
    chat.say("公司不给经济补偿怎么办")
    assert conversation(runtime, chat).calculation is None


def test_danger_comes_before_the_calculation(chat: TestChat) -> None:
    chat.say("加班费怎么算")
    replies = chat.say("我老公喝醉了拿刀说要砍死我")
    assert any(m.buttons and any(b["payload"] in ("/danger", "/safe") for b in m.buttons) for m in replies) or \
        "110" in texts(replies)


def test_in_english(chat: TestChat) -> None:
    replies = chat.say("How much overtime pay can I get?")
    assert "monthly wage" in texts(replies)
    chat.say("6525")
    chat.say("10")  # workday hours
    chat.press(SKIP)
    # 劳动法第四十四条: 6,525 / 21.75 / 8 = 37.5 an hour; 10 hours × 150% = 562.50
    assert "562.50" in texts(chat.press(SKIP))


def test_the_menu_lists_the_calculators(chat: TestChat) -> None:
    replies = chat.say("算一算")
    assert len([p for p in payloads(replies) if p.startswith(START)]) == 9


@pytest.mark.parametrize("name", ["calculator_requests.yml", "calculator_requests_2.yml"])
def test_detection_on_the_held_out_requests(name: str) -> None:
    """Two sets written blind to the rules (the first was then used to mend them; the second measured them
    once, at 92.7% of the requests found and 1.4% of the others taken): at least 85% of the requests found (a
    listed kind), at most 5% of the other messages taken for one."""
    examples = yaml.safe_load((HELD_OUT.parent / name).read_text(encoding="utf-8"))["examples"]
    positives = [e for e in examples if e["kinds"]]
    negatives = [e for e in examples if not e["kinds"]]
    found = sum(bool(set(detect(e["text"])) & set(e["kinds"])) for e in positives)
    taken = sum(bool(detect(e["text"])) for e in negatives)
    assert found / len(positives) >= 0.85, found / len(positives)
    assert taken / len(negatives) <= 0.05, taken / len(negatives)
