"""A calculation asked for in a conversation: one question at a time, then the worked figure.

:class:`Calculation` is the state of one citizen's calculation as a JSON-ready dict the caller keeps between
messages (``state``), like an application form's: it takes the citizen's text (a typed answer, a pressed
choice, "改一下工资", "跳过", "取消") and says what to ask next, or gives the result. It asks only what the
calculator needs and the citizen can know: a figure the bureau publishes (the local average wage, the LPR)
comes from the figures file, and what the first message already said ("干了8年，月薪8000") is taken from it
and said back, not asked again. Channels and the database are the caller's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calculators import INPUTS, CalcError, InputSpec, Result, calculate, parse_value
from calculators.figures import Figures

START = "/calc:"
CHOICE = "/calc=:"  # a pressed choice: /calc=:<value>
SKIP, CANCEL, AGAIN = "/calc!skip", "/calc!cancel", "/calc!again"

#: What each calculator is, for the buttons that start one and the first line of its questions.
TITLES: dict[str, tuple[str, str]] = {
    "severance": ("经济补偿（解除或终止劳动合同）", "severance pay"),
    "unlawful_termination": ("违法解除劳动合同的赔偿金", "damages for unlawful dismissal"),
    "double_wage": ("未签劳动合同的二倍工资", "double wages without a written contract"),
    "overtime": ("加班费", "overtime pay"),
    "injury_disability": ("工伤一次性伤残补助金", "work-injury disability allowance"),
    "injury_death": ("工亡丧葬补助金和一次性工亡补助金", "work-related death benefits"),
    "personal_injury": ("人身损害赔偿（死亡或伤残）", "personal-injury damages (death or disability)"),
    "litigation_fee": ("诉讼费（案件受理费）", "court fees"),
    "loan_interest_cap": ("民间借贷利息上限", "the cap on private-loan interest"),
}

#: The words of the closed choices.
CHOICE_WORDS: dict[str, tuple[str, str]] = {
    "death": ("死亡", "death"), "disability": ("伤残", "disability"),
    "property": ("要求给付金钱或财产", "a claim for money or property"), "labour": ("劳动争议", "a labour dispute"),
    "ordinary": ("普通程序", "ordinary procedure"), "simplified": ("简易程序", "simplified procedure"),
    "settled_or_withdrawn": ("调解结案或撤诉", "settled by mediation or withdrawn"),
}

#: How to write each kind of answer.
_HINTS = {"money": ("如 8000 或 1.2万", "e.g. 8000"), "years": ("如 8年3个月", "e.g. 8 years 3 months or 8.25"),
          "months": ("如 14个月", "e.g. 14"), "integer": ("填一个整数", "a whole number"),
          "number": ("填一个数", "a number"), "date": ("如 2025-06-01", "e.g. 2025-06-01"),
          "integers": ("多个用逗号隔开，如 8, 70", "separate with commas, e.g. 8, 70")}

#: Words a citizen uses for a field in "改一下工资", and to find it in the first message.
ALIASES: dict[str, tuple[str, ...]] = {
    "monthly_wage": ("工资", "月薪", "薪水", "wage", "salary", "pay"),
    "years_of_service": ("年限", "工龄", "几年", "工作了", "years"),
    "months_without_contract": ("月数", "几个月", "months"),
    "grade": ("等级", "级", "grade"), "disability_grade": ("等级", "级", "grade"),
    "age": ("年龄", "岁", "age"), "claim_amount": ("金额", "标的", "amount", "claim"),
    "principal": ("本金", "借了", "principal"), "annual_rate_percent": ("利率", "利息", "rate"),
    "workday_hours": ("工作日",), "restday_hours": ("休息日", "周末"), "holiday_hours": ("节假日", "法定"),
    "contract_date": ("日期", "时间", "date"), "years": ("期限", "借了多久", "term"),
    "dependant_ages": ("被扶养人", "dependants"), "case_type": ("案件类型",), "procedure": ("程序",),
    "case": ("死亡还是伤残",),
}

#: Asked only once another answer makes it matter.
_ONLY_AFTER = {"co_supporters": "dependant_ages"}

_CANCEL_WORDS = ("取消", "不算了", "算了", "cancel", "stop", "/cancel")
_SKIP_WORDS = ("跳过", "没有", "无", "不知道", "skip", "none", "no", "don't know")
_CHANGE = re.compile(r"改|写错|填错|错了|不对|change|wrong", re.IGNORECASE)
#: "改一下工资" is short; a longer message is an answer.
_CHANGE_CHARS = 14

_MONEY = r"\d[\d,]*(?:\.\d+)?\s*(?:万|千|w|k)?"
_CN = "零〇一二两三四五六七八九十百千万"
_FIND: dict[str, str] = {
    "money": rf"{_MONEY}|[{_CN}]+(?=元|块)",
    "number": r"\d+(?:\.\d+)?",
    "integer": rf"\d+|[{_CN}]+",
    "years": rf"[\d.{_CN}]+\s*(?:年|周年)(?:零|又)?(?:[\d.{_CN}半]+\s*个?月)?|[\d.{_CN}]+\s*个?月|[{_CN}]*年半",
    "months": rf"[\d{_CN}]+\s*个?月",
}
#: Where the first message names a field ("月薪8000", "干了8年", "七级伤残", "55岁"): the cue, then the value.
_PREFILL: dict[str, str] = {
    "monthly_wage": rf"(?:月薪|工资|月工资|每月|一个月|薪水|salary|wage|earn)\D{{0,6}}?({_MONEY})",
    "years_of_service": rf"((?:[\d.]+|[{_CN}]+)\s*(?:年|years?)(?:(?:零|又)?(?:[\d.]+|[{_CN}半]+)\s*个?月)?)",
    "months_without_contract": rf"((?:[\d]+|[{_CN}]+)\s*个?月)",
    "grade": rf"((?:\d+|[{_CN}]+))\s*级",
    "disability_grade": rf"((?:\d+|[{_CN}]+))\s*级",
    "age": r"(\d{1,3})\s*(?:岁|周岁|years? old)",
    "claim_amount": rf"({_MONEY})\s*(?:元|块|万)?",
    "principal": rf"(?:借|本金|lent|borrowed)\D{{0,6}}?({_MONEY})",
    "annual_rate_percent": r"(?:年利率|年息|利率|rate)\D{0,4}?(\d+(?:\.\d+)?)\s*%",
}


@dataclass
class Turn:
    """What the bot says next: text, buttons (label, payload), and the result once there is one."""

    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)
    #: asking | done | cancelled
    stage: str = "asking"
    result: Result | None = None


class Calculation:
    """One calculation, its state a plain dict: kind, the answers as the citizen wrote them, what is asked."""

    def __init__(self, kind: str, state: dict[str, Any] | None = None, lang: str = "zh",
                 figures: Figures | Path | None = None) -> None:
        if kind not in INPUTS:
            raise CalcError("kind", f"unknown calculator {kind!r}")
        self.kind = kind
        self.state = state or {"kind": kind, "answers": {}, "asking": None, "stage": "asking"}
        self.lang = lang
        self.figures = figures

    # ---- the conversation ----------------------------------------------------------------------------

    def start(self, first_message: str = "") -> Turn:
        """The first question, after taking what the first message already says."""
        taken = self._prefill(first_message) if first_message else []
        title = TITLES[self.kind][self._i]
        intro = (f"我来帮您估算{title}。" if self._zh else f"Let me work out {title} for you. ")
        if taken:
            said = "、".join(f"{self._label(s)} {self.state['answers'][s.name]}" for s in taken)
            intro += (f"按您说的：{said}。" if self._zh else f"From what you said: {said}. ")
        intro += ("随时可以说“取消”。" if self._zh else "Say \"cancel\" at any time. ")
        return self._next(prefix=intro + "\n")

    def take(self, text: str) -> Turn:
        """The citizen's message, or a pressed button's payload."""
        said = text.strip()
        if said == CANCEL or said.lower() in _CANCEL_WORDS:
            self.state.update(stage="cancelled", asking=None)
            return Turn("好的，不算了。" if self._zh else "All right, cancelled.", stage="cancelled")
        if said == AGAIN:
            self.state.update(answers={}, asking=None, stage="asking")
            return self._next()
        wanted = self.change_request(said)
        if wanted is not None:
            self.state["answers"].pop(wanted.name, None)
            self.state.update(asking=wanted.name, stage="asking")
            return self._ask(wanted, prefix=("好的，重新填写。" if self._zh else "All right. "))
        spec = self._spec(self.state.get("asking"))
        if spec is None:
            return self._next()
        if said == SKIP or (not spec.required and said.lower() in _SKIP_WORDS):
            if spec.required:
                return self._ask(spec)
            self.state["answers"][spec.name] = ""
            return self._next()
        answer = said.removeprefix(CHOICE) if said.startswith(CHOICE) else self._choice_from_words(spec, said)
        try:
            answer = self._usable(spec, answer)
        except CalcError as exc:
            return self._ask(spec, prefix=(exc.message_zh if self._zh else exc.message_en) + ("。" if self._zh else ". "))
        self.state["answers"][spec.name] = answer
        return self._next()

    def again(self) -> Turn:
        """What was last asked, asked again."""
        spec = self._spec(self.state.get("asking"))
        return self._ask(spec) if spec else self._next()

    # ---- steps ---------------------------------------------------------------------------------------

    @property
    def _zh(self) -> bool:
        return self.lang != "en"

    @property
    def _i(self) -> int:
        return 0 if self._zh else 1

    def _spec(self, name: str | None) -> InputSpec | None:
        return next((s for s in INPUTS[self.kind] if s.name == name), None)

    def _label(self, spec: InputSpec) -> str:
        return re.sub(r"（[^）]*）$|\s*\([^)]*\)$", "", spec.label_zh if self._zh else spec.label_en)

    def _answered(self) -> dict[str, Any]:
        return {k: v for k, v in self.state["answers"].items() if v != ""}

    def _to_ask(self) -> list[InputSpec]:
        """The questions still open, in order: what the calculator needs, and what the citizen can know
        that changes the result (never a published figure, which the figures file gives)."""
        answers = self.state["answers"]
        values = {k: self.read(self._spec(k), v) for k, v in self._answered().items() if self._spec(k)}
        for spec in INPUTS[self.kind]:
            if spec.name not in values and spec.default is not None:
                values[spec.name] = spec.default
        out = []
        for spec in INPUTS[self.kind]:
            if spec.name in answers or spec.default_from or spec.instead_of:
                continue
            if spec.when is not None and values.get(spec.when[0]) != spec.when[1]:
                continue
            after = _ONLY_AFTER.get(spec.name)
            if after is not None and not values.get(after):
                continue
            out.append(spec)
        return out

    def _next(self, prefix: str = "") -> Turn:
        missing = self._to_ask()
        if missing:
            return self._ask(missing[0], prefix)
        return self._result(prefix)

    def _ask(self, spec: InputSpec, prefix: str = "") -> Turn:
        self.state.update(asking=spec.name, stage="asking")
        hint = _HINTS.get(spec.kind, ("", ""))[self._i]
        question = (f"请告诉我{spec.label_zh}" + (f"（{hint}）" if hint and spec.kind != "choice" else "") + "。"
                    if self._zh else f"What is {spec.label_en}?" + (f" ({hint})" if hint and spec.kind != "choice" else ""))
        buttons = [(CHOICE_WORDS.get(c, (c, c))[self._i], CHOICE + c) for c in spec.choices] \
            if spec.kind == "choice" else []
        if not spec.required:
            buttons.append(("跳过" if self._zh else "Skip", SKIP))
        if buttons:  # a typed answer gets no buttons: WeChat reads a typed "1" as pressing the first one
            buttons.append(("取消" if self._zh else "Cancel", CANCEL))
        return Turn(prefix + question, buttons)

    def _result(self, prefix: str = "") -> Turn:
        inputs = {k: v for k, v in self._answered().items()}
        try:
            result = calculate(self.kind, inputs, self.figures)
        except CalcError as exc:  # a combination the calculator refuses: ask that field again
            spec = self._spec(exc.field)
            problem = (exc.message_zh if self._zh else exc.message_en) + ("。" if self._zh else ". ")
            if spec is not None and spec.name in self.state["answers"]:
                self.state["answers"].pop(spec.name)
                return self._ask(spec, prefix=problem)
            self.state.update(answers={}, asking=None)  # nothing to ask again: from the start
            return self._next(prefix=problem)
        self.state.update(stage="done", asking=None)
        return Turn(prefix + render(result, self.lang), [("找律师咨询" if self._zh else "Talk to a lawyer", "/lawyer"),
                                                         ("重新计算" if self._zh else "Start again", AGAIN)],
                    stage="done", result=result)

    def read(self, spec: InputSpec | None, answer: str) -> Any:
        return None if spec is None else parse_value(spec, self._usable(spec, answer))

    def _usable(self, spec: InputSpec, answer: str) -> str:
        """The part of an answer that can be read: all of it, or its one amount ("月薪8000左右" → "8000")."""
        try:
            parse_value(spec, answer)
            return answer
        except CalcError:
            found = [m.group(0) for m in re.finditer(_FIND.get(spec.kind, r"$^"), answer, re.IGNORECASE)]
            if len(found) == 1 and found[0] != answer:
                parse_value(spec, found[0])
                return found[0]
            raise

    def _choice_from_words(self, spec: InputSpec, said: str) -> str:
        if spec.kind != "choice":
            return said
        for value in spec.choices:
            if said.lower() in (value, *(w.lower() for w in CHOICE_WORDS.get(value, ()))):
                return value
        return said

    def change_request(self, said: str) -> InputSpec | None:
        """"改一下工资", "年限写错了" → that field, if it was answered or is being asked."""
        if len(said) > _CHANGE_CHARS or not _CHANGE.search(said):
            return None
        named = [s for s in INPUTS[self.kind] if any(a.lower() in said.lower() for a in ALIASES.get(s.name, ()))
                 and (s.name in self.state["answers"] or s.name == self.state.get("asking"))]
        return named[0] if len(named) == 1 else None

    def _prefill(self, text: str) -> list[InputSpec]:
        """Answers the first message already gives, each found exactly once and readable."""
        taken = []
        for spec in self._to_ask():
            pattern = _PREFILL.get(spec.name)
            if pattern is None:
                continue
            found = {m.group(1).strip() for m in re.finditer(pattern, text, re.IGNORECASE)}
            if len(found) != 1:
                continue
            value = found.pop()
            try:
                parse_value(spec, value)
            except CalcError:
                continue
            self.state["answers"][spec.name] = value
            taken.append(spec)
        return taken


def render(result: Result, lang: str = "zh") -> str:
    """The figure, the working, the articles and a plain caveat, for a citizen to read on a phone."""
    zh = lang != "en"
    title = TITLES[result.kind][0 if zh else 1]
    lines = [f"{title}：约 {result.amount:,} 元" if zh else f"{title}: about {result.amount:,} yuan", ""]
    lines += [f"{n}. {s.text_zh if zh else s.text_en}" for n, s in enumerate(result.steps, 1)]
    lines += ["", ("法律依据：" if zh else "Legal basis: ") + ("；".join(result.legal_basis) if zh else "; ".join(result.legal_basis))]
    notes = [a.zh if zh else a.en for a in result.assumptions] + [w.zh if zh else w.en for w in result.warnings]
    if notes:
        lines += ["", "请注意：" if zh else "Please note:"] + [f"· {n}" for n in notes]
    lines += ["", CAVEAT[0 if zh else 1]]
    return "\n".join(lines)


CAVEAT = ("这是按您提供的情况做的估算，不是最终结果：实际数额由仲裁委员会或法院根据证据认定，"
          "工资构成、工作年限、解除原因、当地标准等不同都会改变结果。需要的话可以找律师帮您核对。",
          "This is an estimate from what you told me, not a decision: the arbitration commission or the court "
          "decides the amount from the evidence, and the wage items, the years, why the contract ended and local "
          "standards can all change it. A lawyer can check it with you.")
