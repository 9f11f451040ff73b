"""What one calculation knows besides its inputs: the day, the published figures, and a record of the
figures it used and of what the citizen should double-check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from calculators.figures import Figures
from calculators.result import CalcError, Text


@dataclass
class Context:
    figures: Figures
    today: dt.date
    area: str | None = None
    used: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Text] = field(default_factory=list)

    def figure(self, values: dict[str, Any], field_name: str, figure_name: str, on: dt.date | None = None,
               label_zh: str = "", label_en: str = "") -> Decimal:
        """The value the citizen gave for ``field_name``, else the published figure in effect on ``on``."""
        if field_name in values:
            return Decimal(values[field_name])
        when = on or self.today
        figure = self.figures.pick(figure_name, when, self.area)
        if figure is None:
            raise CalcError(field_name, f"no published figure {figure_name} in effect on {when}: give it as an input",
                            f"没有{when}适用的{label_zh or figure_name}数据，请直接提供")
        record = figure.as_dict()
        if record not in self.used:
            self.used.append(record)
            if figure.example:
                self.warnings.append(Text(
                    f"{figure.label}（{figure.area}，{figure.year}年）是示例数值，不是官方统计数据，结果仅用于演示。",
                    f"{figure.name} ({figure.area}, {figure.year}) is an example value, not an official "
                    f"statistic: the result is for demonstration only."))
            if self.figures.is_stale(figure, self.today):
                self.warnings.append(Text(
                    f"{figure.label}（{figure.area}，{figure.effective}起适用）已超过一年，可能已公布新数值，请核实。",
                    f"{figure.name} ({figure.area}, in use since {figure.effective}) is more than a year old: "
                    f"a newer figure may have been published."))
        return figure.value
