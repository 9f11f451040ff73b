"""Legal calculators: severance, compensation, fees, benefits and interest caps, worked step by step from
the articles that set them, with the figures used and what to double-check.

    >>> result = calculate("litigation_fee", {"claim_amount": "10万"})
    >>> str(result.amount)
    '2300.00'

Each kind's questions are data (:data:`INPUTS`), so a dialogue can ask them one at a time and read each
answer with :func:`parse_value`. The statistics (average wages, minimum wages, incomes, the LPR) are data
too (``calculators/data/figures.yml``): never figures in code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from calculators.context import Context
from calculators.figures import DEFAULT_FIGURES, Figure, Figures, FiguresError, load_figures
from calculators.injury import injury_death, injury_disability, personal_injury
from calculators.inputs import INPUTS, KINDS, InputSpec, parse_value, validate
from calculators.labour import double_wage, overtime, severance, unlawful_termination
from calculators.litigation import litigation_fee
from calculators.loans import loan_interest_cap
from calculators.result import CalcError, Result, Step, Text

__all__ = ["INPUTS", "KINDS", "CalcError", "Figure", "Figures", "FiguresError", "InputSpec", "Result", "Step",
           "Text", "calculate", "load_figures", "parse_value"]

CALCULATORS: dict[str, Callable[[dict[str, Any], Context], Result]] = {
    "severance": severance,
    "unlawful_termination": unlawful_termination,
    "double_wage": double_wage,
    "overtime": overtime,
    "injury_disability": injury_disability,
    "injury_death": injury_death,
    "personal_injury": personal_injury,
    "litigation_fee": litigation_fee,
    "loan_interest_cap": loan_interest_cap,
}
assert tuple(CALCULATORS) == KINDS


@lru_cache(maxsize=4)
def _figures_at(path: Path) -> Figures:
    return load_figures(path)


def calculate(kind: str, inputs: dict[str, Any], figures: Figures | Path | None = None,
              today: dt.date | None = None, area: str | None = None) -> Result:
    """The result for ``kind`` from the citizen's ``inputs`` (values or their free-text answers).

    Raises :class:`CalcError` for an input that cannot be used and :class:`FiguresError` for a figures
    file that cannot be read; nothing else.
    """
    values = validate(kind, inputs)
    if not isinstance(figures, Figures):
        figures = _figures_at((figures or DEFAULT_FIGURES).resolve())
    ctx = Context(figures, today or dt.date.today(), area)
    result = CALCULATORS[kind](values, ctx)
    result.figures = ctx.used
    result.warnings = ctx.warnings
    return result
