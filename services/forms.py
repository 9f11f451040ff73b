"""Application forms asked one question at a time (issue 14, part 1): the definitions, the checks of
each answer, and the steps from the first question to a submitted application.

A form is data (``services/data/forms.yml``): its fields, each with a kind that says how an answer is
checked (an ID card number by its check digit, a phone number, a date, a district from the configured
list, one of a few choices …). :class:`FormRun` is the state of one citizen's application, kept as a
plain dict so that it can wait in the database for days: it takes the citizen's message and says what
to ask next. At any point the citizen can change one answer ("改一下电话"), and can cancel; once every
field is answered they see a summary to confirm, then a separate consent to pass their personal
information to the office (个人信息保护法 arts. 23 and 29: handing it to another handler and sensitive
information each need their own consent). The channel and the database are the caller's business.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import yamlio

DEFAULT_FORMS = Path(__file__).resolve().parent / "data" / "forms.yml"
KINDS = ("text", "choice", "id_card", "phone", "date", "district", "number")

CANCEL = ("取消", "不办了", "不申请了", "算了", "/cancel")
CONFIRM = ("确认", "确认提交", "提交", "对", "没问题")
CHANGE = ("修改", "改一下", "我要改")
AGREE = ("同意", "我同意")
#: "改一下联系电话" is short; a message longer than this is an answer, even with "改" and a field's name in it.
CHANGE_CHARS = 12
DISAGREE = ("不同意", "拒绝")
#: A choice is a button whose payload carries it; Telegram's callback data holds 64 bytes.
MAX_CHOICE_BYTES = 57


class FormError(ValueError):
    """A forms file that cannot be used, with what is wrong and where."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str
    prompt: str
    choices: tuple[str, ...] = ()
    #: Other words a citizen uses for it ("电话" for 联系电话) in "改一下…".
    aliases: tuple[str, ...] = ()
    #: For dates: "past" (a birth date, when something happened) or "future" (an appointment).
    when: str = ""
    min: int | None = None
    max: int | None = None
    optional: bool = False


@dataclass(frozen=True)
class Form:
    slug: str
    title: str
    office: str
    fields: tuple[Field, ...]
    consent: str
    #: The 受理编号's prefix (FY-20261204-0007).
    prefix: str
    #: The office's time limit, in days from submission, for its decision (``until: decided``: refusing or
    #: completing) or for accepting (``until: accepted``), and where the limit comes from.
    sla_days: int | None = None
    sla_until: str = "accepted"
    sla_basis: str = ""

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def load_forms(path: Path = DEFAULT_FORMS) -> dict[str, Form]:
    try:
        raw = yamlio.read(path)
    except (OSError, yaml.YAMLError) as exc:
        raise FormError(f"{path}: cannot read the forms: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("forms"), dict) or not raw["forms"]:
        raise FormError(f"{path}: expected a mapping 'forms' of form slugs")
    forms = {}
    for slug, spec in raw["forms"].items():
        where = f"{path}: form {slug}"
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) and spec[k].strip()
                                                 for k in ("title", "office", "consent", "prefix")):
            raise FormError(f"{where}: needs a title, an office, a reference prefix and a consent text")
        fields = spec.get("fields")
        if not isinstance(fields, list) or not fields:
            raise FormError(f"{where}: needs a list of fields")
        parsed = tuple(_field(f, f"{where}, field {n}") for n, f in enumerate(fields, 1))
        if len({f.name for f in parsed}) != len(parsed):
            raise FormError(f"{where}: two fields have the same name")
        sla = spec.get("sla") or {}
        if not isinstance(sla, dict) or not (sla.get("days") is None or (isinstance(sla["days"], int) and sla["days"] > 0)) \
                or sla.get("until", "accepted") not in ("accepted", "decided"):
            raise FormError(f"{where}: sla needs days (a positive whole number), until (accepted or decided) and a basis")
        forms[str(slug)] = Form(str(slug), spec["title"], spec["office"], parsed, spec["consent"].strip(),
                                spec["prefix"].strip(), sla.get("days"), sla.get("until", "accepted"),
                                str(sla.get("basis", "")))
    return forms


def _field(spec: Any, where: str) -> Field:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("label"), str):
        raise FormError(f"{where}: needs a name and a label")
    kind = spec.get("kind", "text")
    if kind not in KINDS:
        raise FormError(f"{where}: unknown kind {kind!r}; one of {', '.join(KINDS)}")
    choices = tuple(str(c) for c in spec.get("choices", []))
    if kind == "choice" and len(choices) < 2:
        raise FormError(f"{where}: a choice needs at least two choices")
    too_long = [c for c in choices if len(c.encode()) > MAX_CHOICE_BYTES]
    if too_long:  # the button's payload is "/form:" and the label, and Telegram takes 64 bytes
        raise FormError(f"{where}: the choice {too_long[0]!r} is too long for a button "
                        f"(at most {MAX_CHOICE_BYTES} bytes, {MAX_CHOICE_BYTES // 3} Chinese characters)")
    when = spec.get("when", "")
    if when not in ("", "past", "future"):
        raise FormError(f"{where}: 'when' is past or future")
    return Field(spec["name"], spec["label"], kind, str(spec.get("prompt") or f"请告诉我{spec['label']}"), choices,
                 tuple(str(a) for a in spec.get("aliases", [])), when, spec.get("min"), spec.get("max"),
                 bool(spec.get("optional", False)))


# ---- checks of one answer -----------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
_RELATIVE_DAYS = {"今天": 0, "明天": 1, "后天": 2, "昨天": -1, "前天": -2}


def id_card_ok(number: str) -> bool:
    """A resident ID card number (GB 11643): 17 digits, a check character, and a real birth date."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


def check(f: Field, text: str, districts: tuple[str, ...] = (), today: dt.date | None = None) -> tuple[Any, str | None]:
    """(the value, None) for a good answer, or (None, what is wrong and how to write it)."""
    text = text.strip()
    if not text:
        return None, f"{f.label}不能为空"
    squeezed = re.sub(r"[\s\u3000]", "", text)
    if f.kind == "id_card":
        number = squeezed.upper()
        if id_card_ok(number):
            return number, None
        return None, "身份证号码不对：应为18位，最后一位可能是X，请核对后重新输入"
    if f.kind == "phone":
        mobile = _MOBILE.match(squeezed.replace("-", ""))
        if mobile:
            return mobile.group(1), None
        landline = _LANDLINE.match(squeezed)
        if landline:
            return f"{landline.group(1)}-{landline.group(2)}", None
        return None, "电话号码不对：请输入11位手机号，或带区号的固定电话（如 0571-12345678）"
    if f.kind == "date":
        return _date(f, squeezed, today or dt.date.today())
    if f.kind == "district":
        match = [d for d in districts if d == squeezed] or [d for d in districts if squeezed and squeezed in d]
        if len(match) == 1:
            return match[0], None
        return None, "请从这些区县中选择：" + "、".join(districts)
    if f.kind == "choice":
        match = [c for c in f.choices if c == squeezed] or [c for c in f.choices if squeezed and squeezed in c]
        if len(match) == 1:
            return match[0], None
        return None, "请从这些选项中选择：" + "、".join(f.choices)
    if f.kind == "number":
        if not re.fullmatch(r"\d{1,9}", squeezed):
            return None, f"{f.label}请填一个整数"
        value = int(squeezed)
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            return None, f"{f.label}应在{f.min}到{f.max}之间"
        return value, None
    low, high = f.min or 1, f.max or 1000
    if not low <= len(text) <= high:
        return None, f"{f.label}请写{low}到{high}个字"
    return text, None


def _date(f: Field, text: str, today: dt.date) -> tuple[Any, str | None]:
    day: dt.date | None = None
    if text in _RELATIVE_DAYS:
        day = today + dt.timedelta(days=_RELATIVE_DAYS[text])
    else:
        match = _DATE.match(text)
        if match:
            try:
                day = dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                day = None
    if day is None:
        return None, "日期看不懂：请按 2026-12-05 或 2026年12月5日 的样子写"
    if f.when == "future" and day < today:
        return None, "这个日期已经过去了，请选今天以后的日期"
    if f.when == "past" and day > today:
        return None, "这个日期还没到，请检查一下"
    return day.isoformat(), None


# ---- one citizen's application -------------------------------------------------------------------

@dataclass
class Step:
    """What the bot says next: text, and buttons for closed choices."""

    text: str
    buttons: list[str] = field(default_factory=list)
    #: asking | confirm | consent | submitted | cancelled
    stage: str = "asking"


class FormRun:
    """The state of one application, as a JSON-ready dict (``state``) the caller stores between messages."""

    def __init__(self, form: Form, state: dict[str, Any] | None = None, districts: tuple[str, ...] = (),
                 today: dt.date | None = None) -> None:
        self.form = form
        self.state = state or {"form": form.slug, "answers": {}, "stage": "asking", "asking": None, "back": None}
        self.districts = districts
        self.today = today

    def start(self) -> Step:
        return self._next()

    def again(self) -> Step:
        """What was last asked, asked again (a citizen coming back to a paused form)."""
        stage = self.state["stage"]
        if stage == "confirm":
            return self._summary()
        if stage == "consent":
            return Step(self.form.consent, [AGREE[0], DISAGREE[0]], stage="consent")
        if stage in ("submitted", "cancelled"):
            return Step("这份申请已经结束了。", stage=stage)
        asking = self.state.get("asking")
        return self._ask(self.form.field(asking)) if asking else self._next()

    def take(self, text: str) -> Step:
        """The citizen's message (a typed answer or a pressed button's label)."""
        said = text.strip()
        stage = self.state["stage"]
        if stage in ("submitted", "cancelled"):
            return Step("这份申请已经结束了。", stage=stage)
        if said in CANCEL:
            self.state.update(stage="cancelled", asking=None)
            return Step(f"好的，{self.form.title}已取消，填写的内容不会提交。需要时可以重新申请。", stage="cancelled")
        wanted = self._field_to_change(said)
        if wanted is not None:
            self.state.update(stage="asking", asking=wanted.name, back="confirm" if self._complete() else None)
            return self._ask(wanted, prefix=f"好的，重新填写{wanted.label}。")
        if stage == "confirm":
            if said in CONFIRM:
                self.state["stage"] = "consent"
                return Step(self.form.consent, [AGREE[0], DISAGREE[0]], stage="consent")
            if said in CHANGE:
                return Step("要修改哪一项？", [f.label for f in self.form.fields], stage="confirm")
            return self._summary(prefix="请确认下面的内容，或选择要修改的一项。")
        if stage == "consent":
            if said in AGREE:
                self.state["stage"] = "submitted"
                return Step("已提交。", stage="submitted")
            if said in DISAGREE:
                self.state.update(stage="cancelled")
                return Step("没有您的同意，我们不能把申请材料转给办理机构，这份申请没有提交。"
                            "您也可以带身份证件到公共法律服务中心窗口当面申请。", stage="cancelled")
            return Step(self.form.consent, [AGREE[0], DISAGREE[0]], stage="consent")
        current = self.form.field(self.state["asking"]) if self.state["asking"] else None
        if current is None:
            return self._next()
        if current.optional and said in ("跳过", "没有", "无"):
            value, problem = "", None
        else:
            value, problem = check(current, said, self.districts, self.today)
        if problem is not None:
            return self._ask(current, prefix=problem + "。")
        self.state["answers"][current.name] = value
        if self.state.get("back") == "confirm":
            self.state["back"] = None
            if self._complete():
                return self._summary()
        return self._next()

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.state["answers"])

    def _complete(self) -> bool:
        return all(f.name in self.state["answers"] for f in self.form.fields)

    def _next(self) -> Step:
        missing = [f for f in self.form.fields if f.name not in self.state["answers"]]
        if not missing:
            return self._summary()
        self.state.update(stage="asking", asking=missing[0].name)
        return self._ask(missing[0])

    def _ask(self, f: Field, prefix: str = "") -> Step:
        """A question; buttons only where the answer is one of a few. A typed answer gets none, not even
        取消: WeChat numbers a message's buttons and reads a typed "1" as pressing the first, and "1" is
        an answer to 家庭人口 (取消 can always be typed, as the first question says)."""
        self.state["asking"] = f.name
        buttons = list(f.choices) if f.kind == "choice" else list(self.districts) if f.kind == "district" else []
        if f.optional:
            buttons.append("跳过")
        return Step(prefix + f.prompt, buttons + ["取消"] if buttons else [])

    def _summary(self, prefix: str = "") -> Step:
        self.state.update(stage="confirm", asking=None)
        lines = [f"{f.label}：{self.state['answers'].get(f.name) or '（未填）'}" for f in self.form.fields]
        text = (prefix + "\n" if prefix else "") + f"请核对{self.form.title}：\n" + "\n".join(lines)
        return Step(text, [CONFIRM[1], CHANGE[0], CANCEL[0]], stage="confirm")

    def _field_to_change(self, said: str) -> Field | None:
        """"改一下电话", "修改联系电话", "电话写错了" → that field; or a field's label pressed after "修改"."""
        if self.state["stage"] == "confirm":
            pressed = [f for f in self.form.fields if f.label == said]
            if pressed:
                return pressed[0]
        if len(said) > CHANGE_CHARS or not re.search(r"改|写错|填错|换", said):
            return None  # a longer message is an answer ("老板换了电话不接"), not a request to change one
        named = [f for f in self.form.fields if f.label in said or any(a in said for a in f.aliases)]
        return named[0] if len(named) == 1 else None


def reference_number(prefix: str, day: dt.date, sequence: int) -> str:
    """受理编号: the office's prefix, the date and a sequence number of the day, e.g. FY-20261204-0007."""
    return f"{prefix}-{day:%Y%m%d}-{sequence:04d}"
