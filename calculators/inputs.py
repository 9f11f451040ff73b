"""What each calculator needs to be told, in the order a dialogue asks it, and how a citizen's free-text
answer ("1.2万", "8年3个月", "七级") becomes a value.

A spec is data a dialogue can walk generically: ask the first required field not yet answered (skipping
one whose ``when`` does not hold), read the answer with :func:`parse_value`, repeat. A field with
``default_from`` may be left out: the calculation takes the published figure of that name.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from calculators.result import CalcError

#: money: yuan, never negative · number: a decimal · integer · choice · date · years / months: a
#: duration ("8年3个月") in years or in months · integers: a list of whole numbers ("8岁, 70岁").
SPEC_KINDS = ("money", "number", "integer", "choice", "date", "years", "months", "integers")


@dataclass(frozen=True)
class InputSpec:
    name: str
    label_zh: str
    label_en: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = True
    #: The figure (calculators/figures.py NAMES) used when the field is left out.
    default_from: str | None = None
    #: For choices: the value when left out.
    default: str | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    #: (field, value): the field is asked, and required, only when that other field has that value.
    when: tuple[str, str] | None = None
    #: This field may be given in place of that (required) one.
    instead_of: str | None = None


def _spec(name: str, zh: str, en: str, kind: str, **kw: Any) -> InputSpec:
    for key in ("minimum", "maximum"):
        if key in kw and kw[key] is not None:
            kw[key] = Decimal(kw[key])
    return InputSpec(name, zh, en, kind, **kw)


_WAGE = _spec("monthly_wage", "月工资（元）", "monthly wage (yuan)", "money")
_AVG_WAGE = _spec("local_avg_monthly_wage", "当地上年度职工月平均工资（元）",
                  "local average monthly wage of employees, previous year (yuan)", "money",
                  required=False, default_from="avg_monthly_wage")
_SERVICE = (
    _spec("years_of_service", "在本单位工作年限", "years of service with this employer", "years",
          maximum=60),
    _spec("months_of_service", "在本单位工作月数", "months of service with this employer", "months",
          required=False, maximum=720, instead_of="years_of_service"),
    _spec("monthly_wage", "解除或终止前十二个月的平均月工资（元）",
          "average monthly wage over the 12 months before the contract ended (yuan)", "money"),
    _AVG_WAGE,
    _spec("minimum_wage", "当地月最低工资标准（元）", "local monthly minimum wage (yuan)", "money",
          required=False, default_from="minimum_wage"),
)

INPUTS: dict[str, tuple[InputSpec, ...]] = {
    "severance": _SERVICE,
    "unlawful_termination": _SERVICE,
    "double_wage": (
        _spec("months_without_contract", "自用工之日起未签书面劳动合同的月数",
              "months since employment began without a written contract", "months", maximum=720),
        _WAGE,
    ),
    "overtime": (
        _WAGE,
        _spec("workday_hours", "工作日延长工作的小时数", "extra hours on workdays", "number",
              required=False, maximum=10000),
        _spec("restday_hours", "休息日工作且未补休的小时数", "hours on rest days with no time off in lieu",
              "number", required=False, maximum=10000),
        _spec("holiday_hours", "法定休假日工作的小时数", "hours on statutory holidays", "number",
              required=False, maximum=10000),
    ),
    "injury_disability": (
        _spec("grade", "伤残等级（1-10级）", "disability grade (1-10)", "integer", minimum=1, maximum=10),
        _spec("monthly_wage", "受伤前十二个月平均月缴费工资（元）",
              "average monthly contribution wage over the 12 months before the injury (yuan)", "money"),
        _AVG_WAGE,
    ),
    "injury_death": (
        _AVG_WAGE,
        _spec("national_urban_disposable_income", "上一年度全国城镇居民人均可支配收入（元）",
              "national urban per-capita disposable income, previous year (yuan)", "money",
              required=False, default_from="national_urban_disposable_income"),
    ),
    "personal_injury": (
        _spec("case", "死亡还是伤残", "death or disability", "choice", choices=("death", "disability")),
        _spec("age", "受害人年龄（死亡或定残时，周岁）", "the victim's age at death or at the disability assessment",
              "integer", minimum=0, maximum=130),
        _spec("disability_grade", "伤残等级（1-10级）", "disability grade (1-10)", "integer", minimum=1,
              maximum=10, when=("case", "disability")),
        _spec("urban_disposable_income", "受诉法院所在地上一年度城镇居民人均可支配收入（元）",
              "urban per-capita disposable income where the court sits, previous year (yuan)", "money",
              required=False, default_from="urban_disposable_income"),
        _spec("local_avg_monthly_wage", "受诉法院所在地上一年度职工月平均工资（元）",
              "average monthly wage of employees where the court sits, previous year (yuan)", "money",
              required=False, default_from="avg_monthly_wage", when=("case", "death")),
        _spec("dependant_ages", "被扶养人的年龄（没有可跳过）", "ages of the dependants (skip if none)",
              "integers", required=False, minimum=0, maximum=130),
        _spec("co_supporters", "每位被扶养人共有几位扶养义务人（含受害人）",
              "how many people, the victim included, owe each dependant support", "integer", required=False,
              minimum=1, maximum=20),
        _spec("urban_consumption_expenditure", "受诉法院所在地上一年度城镇居民人均消费支出（元）",
              "urban per-capita consumption expenditure where the court sits, previous year (yuan)", "money",
              required=False, default_from="urban_consumption_expenditure"),
    ),
    "litigation_fee": (
        _spec("case_type", "案件类型", "type of case", "choice", choices=("property", "labour"), required=False,
              default="property"),
        _spec("claim_amount", "诉讼请求的金额（元）", "the amount claimed (yuan)", "money",
              when=("case_type", "property")),
        _spec("procedure", "审理方式", "how the case is handled", "choice",
              choices=("ordinary", "simplified", "settled_or_withdrawn"), required=False, default="ordinary"),
    ),
    "loan_interest_cap": (
        _spec("principal", "借款本金（元）", "the principal lent (yuan)", "money"),
        _spec("annual_rate_percent", "约定的年利率（%）", "the agreed annual rate (%)", "number", required=False,
              maximum=1000),
        _spec("contract_date", "借款合同成立的日期", "the date the loan contract was made", "date", required=False),
        _spec("lpr_percent", "合同成立时的一年期LPR（%）", "the one-year LPR when the contract was made (%)",
              "number", required=False, default_from="lpr_1y", maximum=100),
        _spec("years", "借款期限（年）", "how long the money is lent (years)", "years", required=False,
              maximum=100),
    ),
}
KINDS: tuple[str, ...] = tuple(INPUTS)


def validate(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs as typed values (Decimal, int, str, date, list[int]), or a CalcError for the first
    field that is unknown, unreadable, out of range or missing."""
    if kind not in INPUTS:
        raise CalcError("kind", f"unknown calculator {kind!r}; one of {', '.join(KINDS)}",
                        f"没有“{kind}”这种计算器，可选：{'、'.join(KINDS)}")
    if not isinstance(inputs, dict):
        raise CalcError("inputs", "expected an object of field names and values", "输入应当是“字段: 值”的对象")
    specs = {s.name: s for s in INPUTS[kind]}
    unknown = [name for name in inputs if name not in specs]
    if unknown:
        raise CalcError(str(unknown[0]), f"unknown field for {kind}; its fields: {', '.join(specs)}",
                        f"{kind} 没有这一项，可填：{'、'.join(specs)}")
    values: dict[str, Any] = {}
    for spec in INPUTS[kind]:
        raw = inputs.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.default is not None:
                values[spec.name] = spec.default
            continue
        values[spec.name] = parse_value(spec, raw)
    for spec in INPUTS[kind]:
        if spec.name in values or not spec.required:
            continue
        if spec.when is not None and values.get(spec.when[0]) != spec.when[1]:
            continue
        if any(s.instead_of == spec.name and s.name in values for s in INPUTS[kind]):
            continue
        raise CalcError(spec.name, f"required: {spec.label_en}", f"请提供{spec.label_zh}")
    return values


# ---- reading one answer -----------------------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
           "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_SCALE = {"万": Decimal(10000), "千": Decimal(1000), "w": Decimal(10000), "k": Decimal(1000)}
_YEARS_MONTHS = re.compile(r"^(?:(?P<y>[\d.]+|[零〇一二两三四五六七八九十百]+)(?:年|周年|years?|yrs?))?"
                           r"(?:零|又|and)?(?:(?P<m>[\d.]+|[零〇一二两三四五六七八九十百]+|半)(?:个月|個月|月|months?|mos?))?"
                           r"(?P<half>半年?)?$")


def parse_value(spec: InputSpec, value: Any) -> Any:
    """A typed value from an answer: text as a citizen writes it, or a JSON number, list or date."""
    if isinstance(value, bool):
        raise _unreadable(spec, value)
    if spec.kind == "choice":
        text = str(value).strip().lower()
        if text not in spec.choices:
            raise CalcError(spec.name, f"one of {', '.join(spec.choices)}, not {value!r}",
                            f"{spec.label_zh}只能是：{'、'.join(spec.choices)}")
        return text
    if spec.kind == "date":
        return _date(spec, value)
    if spec.kind == "integers":
        items = value if isinstance(value, list) else [v for v in re.split(r"[,，、;；\s和及]+", str(value)) if v]
        return [_checked(spec, _integer(spec, item)) for item in items]
    if spec.kind == "integer":
        return _checked(spec, _integer(spec, value))
    if spec.kind in ("years", "months"):
        return _checked(spec, _duration(spec, value))
    return _checked(spec, _amount(spec, value))


def _unreadable(spec: InputSpec, value: Any) -> CalcError:
    return CalcError(spec.name, f"cannot read {value!r} as {spec.label_en}", f"看不懂“{value}”，请填写{spec.label_zh}")


def _checked(spec: InputSpec, number: Any) -> Any:
    if number < 0:
        raise CalcError(spec.name, "must not be negative", f"{spec.label_zh}不能是负数")
    if spec.minimum is not None and number < spec.minimum:
        raise CalcError(spec.name, f"at least {spec.minimum}", f"{spec.label_zh}最小为{spec.minimum}")
    if spec.maximum is not None and number > spec.maximum:
        raise CalcError(spec.name, f"at most {spec.maximum}", f"{spec.label_zh}最大为{spec.maximum}")
    return number


def _clean(value: Any) -> str:
    text = str(value).strip().lower()
    text = re.sub(r"[\s\u3000,，]", "", text)
    return re.sub(r"(元|块钱|块|rmb|cny|yuan|¥|￥|人民币)", "", text)


def _decimal(spec: InputSpec, value: Any) -> Decimal:
    """"8000", "8,000元", "8千", "1.2万", "一万二", "3.5%"."""
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    text = _clean(value).rstrip("%")
    if _NUMBER.match(text):
        return Decimal(text)
    scaled = re.fullmatch(r"([\d.]+)(万|千|w|k)", text)
    if scaled and _NUMBER.match(scaled.group(1)):
        return _plain(Decimal(scaled.group(1)) * _SCALE[scaled.group(2)])
    chinese = _chinese_number(text)
    if chinese is None:
        raise _unreadable(spec, value)
    return Decimal(chinese)


def _plain(number: Decimal) -> Decimal:
    """12000.0 → 12000: no trailing zeros, never exponent notation."""
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


def _amount(spec: InputSpec, value: Any) -> Decimal:
    try:
        return _decimal(spec, value)
    except InvalidOperation:
        raise _unreadable(spec, value) from None


def _integer(spec: InputSpec, value: Any) -> int:
    text = value if isinstance(value, int | Decimal | float) else re.sub(r"(级|岁|周岁|个|人|名)$", "", _clean(value))
    number = _amount(spec, text)
    if number != number.to_integral_value():
        raise CalcError(spec.name, f"a whole number, not {value!r}", f"{spec.label_zh}应为整数")
    return int(number)


def _duration(spec: InputSpec, value: Any) -> Decimal:
    """Years or months: "8年3个月", "8.5年", "6个月", "半年", "一年半", or a bare number in the spec's unit."""
    if isinstance(value, int | float | Decimal):
        return _amount(spec, value)
    text = _clean(value)
    match = _YEARS_MONTHS.match(text)
    if not text or not match or not any(match.group(g) for g in ("y", "m", "half")):
        return _amount(spec, text)  # "8": a bare number in the spec's own unit
    months = Decimal(0)
    if match.group("y"):
        months += _part(spec, match.group("y"), value) * 12
    if match.group("m"):
        months += Decimal("0.5") if match.group("m") == "半" else _part(spec, match.group("m"), value)
    if match.group("half"):
        months += 6
    return months if spec.kind == "months" else months / 12


def _part(spec: InputSpec, text: str, original: Any) -> Decimal:
    if _NUMBER.match(text):
        return Decimal(text)
    number = _chinese_number(text)
    if number is None:
        raise _unreadable(spec, original)
    return Decimal(number)


def _chinese_number(text: str) -> int | None:
    """一万二 → 12000, 三千五 → 3500, 十二 → 12, 七 → 7, 两万 → 20000; None if it is not one."""
    if not text or any(ch not in _DIGITS and ch not in _UNITS and ch != "万" for ch in text):
        return None
    total, section, digit, last_unit = 0, 0, None, 1
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
            if digit == 0:
                last_unit = 1  # 一千零五: the next digit is units
        elif ch in _UNITS:
            unit = _UNITS[ch]
            section += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
        else:  # 万
            section += digit or 0
            total += (section or 1) * 10000
            section, digit, last_unit = 0, None, 10000
    if digit is not None:
        # a trailing digit after a unit is one place below it: 一万二 = 12000, 三千五 = 3500, 十二 = 12
        section += digit * (last_unit // 10 if last_unit >= 100 else 1)
    return total + section


def _date(spec: InputSpec, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?", str(value).strip())
    if match:
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    raise CalcError(spec.name, f"a date such as 2024-03-15, not {value!r}",
                    f"日期看不懂，请按 2024-03-15 或 2024年3月15日 的样子写{spec.label_zh}")
