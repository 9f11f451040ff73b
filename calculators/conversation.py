"""The calculators in a conversation, for the engine: start one when a message asks for a figure, take the
answers, show the result. The state lives on the conversation (``conversation.calculation``) and ends with
it; the engine decides danger first and calls here only for what is left.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.store import Conversation
from bot.taxonomy import Outcome
from calculators import INPUTS, KINDS, CalcError, FiguresError
from calculators.dialogue import AGAIN, CANCEL, CHOICE, CHOICE_WORDS, SKIP, START, TITLES, Calculation, Turn
from calculators.intent import detect
from nlu.text import content_chars

log = logging.getLogger(__name__)

Say = Callable[..., None]

#: "算一算", "计算器": the list of calculators.
_MENU_WORDS = re.compile(r"^(?:算一算|计算器|赔偿计算|费用计算|calculators?)$", re.IGNORECASE)
#: An answer that cannot be read and is this long is a new question, not an answer.
_NEW_QUESTION_CHARS = 12

__all__ = ["CalcDesk", "detect"]


def _button(label: str, payload: str) -> dict[str, str]:
    return {"label": label, "payload": payload}


class CalcDesk:
    def __init__(self, figures: Path) -> None:
        self.figures = figures

    # ---- what the engine asks --------------------------------------------------------------------------

    @staticmethod
    def handles(payload: str) -> bool:
        return payload.startswith("/calc")

    @staticmethod
    def keyword(text: str) -> str | None:
        """The payload a short typed request stands for ("算一算" → the list of calculators)."""
        return START if _MENU_WORDS.match(text.strip()) else None

    @staticmethod
    def pressed_label(payload: str, lang: str) -> str | None:
        zh = lang != "en"
        if payload.startswith(START) and payload.removeprefix(START) in TITLES:
            return ("计算：" if zh else "Calculate: ") + TITLES[payload.removeprefix(START)][0 if zh else 1]
        if payload.startswith(CHOICE):
            value = payload.removeprefix(CHOICE)
            return CHOICE_WORDS.get(value, (value, value))[0 if zh else 1]
        return {START: ("算一算" if zh else "Calculators"), SKIP: ("跳过" if zh else "Skip"),
                CANCEL: ("取消" if zh else "Cancel"), AGAIN: ("重新计算" if zh else "Start again")}.get(payload)

    @staticmethod
    def asking(conversation: Conversation) -> bool:
        return bool(conversation.calculation) and (conversation.calculation or {}).get("stage") == "asking"

    def offer(self, kinds: tuple[str, ...], text: str, conversation: Conversation, lang: str, say: Say) -> None:
        """Start the calculator a message asks for, or let the citizen pick when it could be either."""
        if len(kinds) == 1:
            self._start(kinds[0], conversation, lang, say, text)
            return
        zh = lang != "en"
        say("您是想算哪一项？" if zh else "Which would you like me to work out?",
            buttons=[_button(TITLES[k][0 if zh else 1], START + k) for k in kinds],
            decision={"calculator": "choose", "kinds": list(kinds)})

    def payload(self, conversation: Conversation, payload: str, lang: str, say: Say) -> None:
        kind = payload.removeprefix(START) if payload.startswith(START) else None
        if kind == "":
            zh = lang != "en"
            say("可以帮您估算这些数额，选一项开始：" if zh else "I can estimate these amounts; pick one:",
                buttons=[_button(TITLES[k][0 if zh else 1], START + k) for k in KINDS])
        elif kind is not None:
            if kind in INPUTS:
                self._start(kind, conversation, lang, say)
        elif conversation.calculation:
            self._take(conversation, payload, lang, say)

    def text(self, conversation: Conversation, text: str, lang: str, say: Say) -> bool:
        """Take the citizen's text as the answer being asked for; False if it reads as something else (a new
        question: the calculation is dropped and the engine answers it)."""
        state = conversation.calculation or {}
        if state.get("stage") not in ("asking", "done"):
            return False
        run = self._run(conversation, state.get("lang", lang))
        if state["stage"] == "done":  # after the result only "改一下工资" is for the calculation
            if run.change_request(text.strip()) is None:
                conversation.calculation = None
                return False
            self._take(conversation, text, state.get("lang", lang), say)
            return True
        spec = next((s for s in INPUTS[run.kind] if s.name == state.get("asking")), None)
        if spec is not None and content_chars(text) >= _NEW_QUESTION_CHARS and not re.search(r"\d", text) \
                and not detect(text):
            try:
                run.read(spec, text)
            except CalcError:
                conversation.calculation = None
                return False
        self._take(conversation, text, state.get("lang", lang), say)
        return True

    # ---- steps -----------------------------------------------------------------------------------------

    def _run(self, conversation: Conversation, lang: str) -> Calculation:
        state = dict(conversation.calculation or {})
        state["answers"] = dict(state.get("answers", {}))
        return Calculation(state["kind"], state, lang, self.figures)

    def _start(self, kind: str, conversation: Conversation, lang: str, say: Say, text: str = "") -> None:
        run = Calculation(kind, None, lang, self.figures)
        run.state["lang"] = lang
        self._said(conversation, run, self._safely(run, lambda: run.start(text)), say)

    def _take(self, conversation: Conversation, text: str, lang: str, say: Say) -> None:
        run = self._run(conversation, lang)
        self._said(conversation, run, self._safely(run, lambda: run.take(text)), say)

    def _safely(self, run: Calculation, step: Callable[[], Turn]) -> Turn:
        try:
            return step()
        except FiguresError:
            log.exception("the calculators' figures file cannot be used")
            run.state.update(stage="cancelled")
            return Turn("抱歉，计算所需的统计数据暂时无法读取，请稍后再试，或找律师咨询。" if run.lang != "en" else
                        "Sorry, the figures the calculation needs cannot be read just now; please try later or "
                        "ask a lawyer.", [("找律师咨询" if run.lang != "en" else "Talk to a lawyer", "/lawyer")],
                        stage="cancelled")

    def _said(self, conversation: Conversation, run: Calculation, turn: Turn, say: Say) -> None:
        # A new dict: the row's JSON is written again only when a new object is assigned.
        conversation.calculation = dict(run.state) if turn.stage in ("asking", "done") else None
        record: dict[str, Any] = {"calculator": run.kind, "stage": turn.stage}
        if turn.result is not None:
            record.update(amount=str(turn.result.amount), legal_basis=list(turn.result.legal_basis))
            conversation.pending_outcome = Outcome.answered.value  # the bot gave the figure
        say(turn.text, buttons=[_button(label, payload) for label, payload in turn.buttons] or None, decision=record)
