"""Safety triage in the conversation: the right emergency line first, the safety question when unsure,
danger first in the queue. Model quality on the held-out sets is measured in tests/test_urgency.py."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from bot import actions
from bot.channels.testing import TestChat
from bot.engine import Engine
from bot.replies import t
from bot.runtime import Runtime
from bot.store import HandoffTicket
from bot.taxonomy import ConversationStatus, Priority
from nlu.backend import NLUBackend, Rankings, UrgencyScore
from nlu.classifier import Classifier
from nlu.text import normalize
from nlu.urgency import KINDS

#: The number the first line of the reply must give for each kind of danger (issue 11).
FIRST_LINE = {
    "domestic_violence": ["110", "12338"], "threat_to_life": ["110"], "self_harm": ["12356", "120"],
    "child_in_danger": ["110", "12355"], "just_detained": ["12348"], "imminent_deadline": [],
    "wage_crowd": ["110"], "eviction_today": ["110"], "injury_now": ["120"], "elder_abuse": ["110"],
    "held_captive": ["110"], "stalking": ["110"], "extortion": ["110"], "learned": ["110"],
}

UNSURE = "我弟弟今天和人吵起来了，对方说要找人收拾他，这种情况能报警吗"
UNSURE_TOO = "那人刚才又在楼下转了一圈"
QUIET = "老板拖欠工资三个月了"


class UnsureFor(NLUBackend):
    """Test double: the real model's rankings, and an "unsure" urgency for the given texts only."""

    name = "unsure-for"

    def __init__(self, real: NLUBackend, unsure: dict[str, str]) -> None:
        self.real = real
        self.unsure = {normalize(text): kind for text, kind in unsure.items()}

    def rank(self, text: str) -> Rankings:
        return self.real.rank(text)

    def urgency(self, text: str) -> UrgencyScore:
        kind = self.unsure.get(normalize(text))
        return UrgencyScore(probability=0.4 if kind else 0.0, threshold=0.8, reason=kind, check_threshold=0.2)


@pytest.fixture
def unsure_chat(runtime: Runtime) -> TestChat:
    classifier = Classifier(runtime.nlu, urgency_source=UnsureFor(runtime.nlu, {UNSURE: "threat_to_life",
                                                                                UNSURE_TOO: "stalking"}))
    engine = Engine(runtime.store, classifier, runtime.kb, runtime.settings)
    return TestChat(engine, user_id=f"citizen-{uuid.uuid4().hex[:8]}")


def tickets(runtime: Runtime) -> list[HandoffTicket]:
    with runtime.store.session() as session:
        return list(session.exec(select(HandoffTicket)).all())


@pytest.mark.parametrize("kind", [*KINDS, "learned"])
def test_each_kind_of_danger_opens_with_the_number_that_helps(kind: str) -> None:
    for lang in ("zh", "en"):
        first_line = t("emergency_" + kind, lang).splitlines()[0]
        assert all(number in first_line for number in FIRST_LINE[kind]), (kind, lang, first_line)
    if kind == "imminent_deadline":  # what to do today comes before the handoff
        assert "今天" in t("emergency_" + kind, "zh").splitlines()[0]


def test_self_harm_gets_the_psychological_hotline_first_then_the_notice_then_a_lawyer(
        runtime: Runtime, chat: TestChat) -> None:
    chat.say("我不想活了，欠的钱这辈子也还不上")
    texts = [m.text for m in chat.last.messages]
    assert "12356" in texts[0].splitlines()[0]
    assert chat.last.messages[1].text == t("urgent_handoff", "zh") and "前面" not in texts[1]
    assert chat.last.messages[-1].sender == "system"  # the long notice comes after the help
    [ticket] = tickets(runtime)
    assert ticket.priority == Priority.urgent
    assert ticket.packet["urgent_reasons"] == ["self_harm"]


def test_a_citizen_in_danger_who_writes_again_is_not_told_a_position(runtime: Runtime, chat: TestChat) -> None:
    other = TestChat(chat.engine, user_id=f"citizen-{uuid.uuid4().hex[:8]}")
    other.say("我想找律师帮我打官司")  # an ordinary chat waits already
    chat.say("我老公又在打我，说要杀了我")
    chat.say("他在踹门了")
    [reply] = chat.last.messages
    assert reply.text == t("urgent_still_waiting", "zh") and "前面" not in reply.text


def test_a_message_in_between_gets_the_safety_question_before_the_notice(runtime: Runtime,
                                                                           unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    question = unsure_chat.last.messages[0]
    assert question.text == t("safety_check", "zh")
    assert [b["payload"] for b in question.buttons or []] == [actions.DANGER, actions.SAFE]
    assert unsure_chat.last.messages[-1].sender == "system"
    assert unsure_chat.last.incoming.decision["safety_check"] is True  # type: ignore[index]
    assert tickets(runtime) == []  # no lawyer flooded while unsure


def test_a_tap_on_danger_is_urgent_at_once(runtime: Runtime, unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    unsure_chat.press(actions.DANGER)
    first = unsure_chat.last.messages[0]
    assert first.text == t("emergency_threat_to_life", "zh")
    [ticket] = tickets(runtime)
    assert ticket.priority == Priority.urgent and ticket.packet["urgent_reasons"] == ["threat_to_life"]
    assert ticket.packet["safety_check"] == "danger"  # the lawyer sees that the citizen confirmed it
    assert unsure_chat.conversation().urgent


def test_help_typed_after_the_safety_question_means_danger(runtime: Runtime, unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    unsure_chat.say("help")  # elsewhere the keyword for the help text
    assert unsure_chat.last.messages[0].text == t("emergency_threat_to_life", "zh")
    assert [tk.priority for tk in tickets(runtime)] == [Priority.urgent]


def test_safe_goes_on_with_the_question_and_does_not_ask_again(runtime: Runtime, unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    unsure_chat.say("我现在安全")  # typed instead of tapped
    texts = [m.text for m in unsure_chat.last.messages]
    assert texts[0] == t("safe_noted", "zh")
    assert t("safety_check", "zh") not in texts
    assert unsure_chat.last.messages[-1].decision["action"] in ("answer", "suggest", "clarify", "handoff")  # type: ignore[index]
    assert not any(tk.priority == Priority.urgent for tk in tickets(runtime))


def test_a_second_unsure_message_after_the_question_is_not_asked_twice(runtime: Runtime,
                                                                       unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    unsure_chat.say(UNSURE_TOO)
    assert unsure_chat.last.messages[0].text == t("emergency_stalking", "zh")
    [ticket] = tickets(runtime)
    assert ticket.priority == Priority.urgent


def test_an_ordinary_question_is_not_interrupted(runtime: Runtime, unsure_chat: TestChat) -> None:
    unsure_chat.say(QUIET)
    assert all(m.text != t("safety_check", "zh") for m in unsure_chat.last.messages)
    assert unsure_chat.last.messages[0].sender == "system"  # the notice first when nothing is wrong


def test_an_unanswered_safety_question_does_not_stop_a_new_question(unsure_chat: TestChat) -> None:
    unsure_chat.say(UNSURE)
    unsure_chat.say(QUIET)
    assert unsure_chat.last.messages[-1].decision["action"] in ("answer", "suggest", "clarify")  # type: ignore[index]
    assert unsure_chat.conversation().status in (ConversationStatus.bot, ConversationStatus.clarifying)


@pytest.mark.parametrize("typed, expected", [
    ("我现在有危险", actions.DANGER), ("不安全", actions.DANGER), ("救命", actions.DANGER), ("help", actions.DANGER),
    ("我现在安全", actions.SAFE), ("没事", actions.SAFE), ("没有危险", actions.SAFE), ("I'm safe", actions.SAFE),
    ("他刚才又来敲门了", None), ("公司拖欠工资三个月了怎么办啊", None),
])
def test_typed_answers_to_the_safety_question(typed: str, expected: str | None) -> None:
    assert actions.safety_answer(typed) == expected


def test_an_urgent_chat_out_of_hours_is_still_told_it_is_first(runtime: Runtime, chat: TestChat) -> None:
    runtime.settings.service_hours = "00:00-00:01"
    chat.say("我老公又在打我，说要杀了我")
    texts = [m.text for m in chat.last.messages]
    assert t("urgent_out_of_hours", "zh") in texts
    assert not any("前面" in text for text in texts)
