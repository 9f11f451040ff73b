"""The statistics the calculators need (average wages, minimum wages, incomes, the LPR), as data.

Each figure is published by a bureau for an area and a year and takes effect on a date; a bureau keeps
old entries and adds new ones (``calculators/data/figures.yml``, LEGALBOT_CALCULATOR_FIGURES). A
calculation uses the newest figure in effect on its date, says which one, and warns when it is an example
or may have been superseded (the newest we have took effect more than a year ago).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from bot import yamlio

DEFAULT_FIGURES = Path(__file__).resolve().parent / "data" / "figures.yml"
#: Figures that apply everywhere carry this area.
NATIONAL = "全国"
#: A figure whose newest entry took effect longer ago than this may have been superseded.
STALE_AFTER = dt.timedelta(days=365)

#: The figures a calculation may ask for, with their Chinese names.
NAMES = {
    "avg_monthly_wage": "上年度职工月平均工资",
    "minimum_wage": "月最低工资标准",
    "urban_disposable_income": "上一年度城镇居民人均可支配收入",
    "urban_consumption_expenditure": "上一年度城镇居民人均消费支出",
    "national_urban_disposable_income": "上一年度全国城镇居民人均可支配收入",
    "lpr_1y": "一年期贷款市场报价利率（LPR）",
}
_FIELDS = ("name", "area", "year", "value", "unit", "effective", "source", "example")


class FiguresError(ValueError):
    """A figures file that cannot be used: every problem, one a line, as ``figures.yml: <where>: <what>``."""


@dataclass(frozen=True)
class Figure:
    name: str
    area: str
    year: int
    value: Decimal
    unit: str
    effective: dt.date
    source: str
    example: bool

    @property
    def label(self) -> str:
        return NAMES[self.name]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "area": self.area, "year": self.year,
                "value": str(self.value), "unit": self.unit, "effective": self.effective.isoformat(),
                "source": self.source, "example": self.example}


@dataclass(frozen=True)
class Figures:
    items: tuple[Figure, ...]
    #: The bureau's own area: local figures are looked up for it unless a calculation names another.
    default_area: str

    def pick(self, name: str, on: dt.date, area: str | None = None) -> Figure | None:
        """The newest figure of that name in effect on ``on``: the area's own, else a national one."""
        wanted = area or self.default_area
        for where in (wanted, NATIONAL):
            found = [f for f in self.items if f.name == name and f.area == where and f.effective <= on]
            if found:
                return max(found, key=lambda f: f.effective)
        return None

    def is_stale(self, figure: Figure, today: dt.date) -> bool:
        """No newer entry of its kind and area, and it took effect more than a year before today."""
        newer = [f for f in self.items if f.name == figure.name and f.area == figure.area
                 and f.effective > figure.effective]
        return not newer and today - figure.effective > STALE_AFTER


def load_figures(path: Path = DEFAULT_FIGURES) -> Figures:
    name = path.name
    try:
        raw = yamlio.read(path)
    except (OSError, yaml.YAMLError) as exc:
        raise FiguresError(f"{name}: cannot read the figures: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("figures"), list) or not raw["figures"]:
        raise FiguresError(f"{name}: expected a mapping with 'default_area' and a list 'figures'")
    problems: list[str] = []
    default_area = raw.get("default_area")
    if not isinstance(default_area, str) or not default_area.strip():
        problems.append(f"{name}: default_area: the bureau's area is missing (e.g. 示例市)")
        default_area = ""
    items: list[Figure] = []
    for n, entry in enumerate(raw["figures"], 1):
        figure = _figure(entry, f"{name}: figure {n}", problems)
        if figure is not None:
            items.append(figure)
    seen: set[tuple[str, str, dt.date]] = set()
    for figure in items:
        key = (figure.name, figure.area, figure.effective)
        if key in seen:
            problems.append(f"{name}: {figure.name} {figure.area} {figure.effective}: entered twice")
        seen.add(key)
    if problems:
        raise FiguresError("\n".join(problems))
    return Figures(tuple(items), default_area.strip())


def _figure(entry: Any, where: str, problems: list[str]) -> Figure | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping with {', '.join(_FIELDS)}")
        return None
    if isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"
    before = len(problems)
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(map(str, unknown))}")
    missing = [k for k in _FIELDS if k not in entry]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    if "name" in entry and entry["name"] not in NAMES:
        problems.append(f"{where}: name: unknown figure {entry['name']!r}; one of {', '.join(NAMES)}")
    for key in ("area", "unit", "source"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            problems.append(f"{where}: {key}: must be a non-empty text")
    year = entry.get("year")
    if "year" in entry and not (isinstance(year, int) and not isinstance(year, bool) and 1990 <= year <= 2100):
        problems.append(f"{where}: year: must be a year such as 2025, not {year!r}")
    value = _decimal(entry.get("value"))
    if "value" in entry and (value is None or value <= 0):
        problems.append(f"{where}: value: must be a positive number, not {entry.get('value')!r}")
    effective = _date(entry.get("effective"))
    if "effective" in entry and effective is None:
        problems.append(f"{where}: effective: must be a date such as 2026-07-01, not {entry.get('effective')!r}")
    if "example" in entry and not isinstance(entry["example"], bool):
        problems.append(f"{where}: example: must be true or false")
    if len(problems) > before or value is None or effective is None:
        return None
    return Figure(entry["name"], entry["area"].strip(), entry["year"], value, entry["unit"].strip(), effective,
                  entry["source"].strip(), entry["example"])


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))  # str(): YAML's 2.5 arrives as a float; its text is what was written
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
