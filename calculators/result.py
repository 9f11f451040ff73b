"""What a calculation gives back: an amount in yuan, the steps that led to it, the articles behind them,
the assumptions made, the figures used and what to double-check. Money is :class:`~decimal.Decimal`
throughout and rounded only where a person would see it (to the fen, half up)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CURRENCY = "CNY"
FEN = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Rounded to the fen, half up (0.005 → 0.01), as courts and funds pay."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


class CalcError(ValueError):
    """An input a calculation cannot use, naming the field: ``str(exc)`` is ``"<field>: <message>"``."""

    def __init__(self, field: str, message: str, message_zh: str = "") -> None:
        self.field = field
        self.message_en = message
        self.message_zh = message_zh or message
        super().__init__(f"{field}: {message}")

    def as_dict(self) -> dict[str, str]:
        return {"error": str(self), "field": self.field, "error_zh": f"{self.field}：{self.message_zh}"}


@dataclass(frozen=True)
class Text:
    """One sentence in both languages."""

    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Step:
    """One line of the working. ``amount`` is None for a step that explains rather than adds up."""

    text_zh: str
    text_en: str
    amount: Decimal | None = None
    basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"text_zh": self.text_zh, "text_en": self.text_en,
                "amount": None if self.amount is None else str(money(self.amount)), "basis": self.basis}


@dataclass
class Result:
    kind: str
    amount: Decimal
    steps: list[Step] = field(default_factory=list)
    legal_basis: list[str] = field(default_factory=list)
    assumptions: list[Text] = field(default_factory=list)
    #: The figures used: name, area, year, value, unit, effective, source, example.
    figures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Text] = field(default_factory=list)
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        self.amount = money(self.amount)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; amounts are strings ("12345.00") so that no float ever rounds them."""
        return {"kind": self.kind, "amount": str(self.amount), "currency": self.currency,
                "steps": [s.as_dict() for s in self.steps], "legal_basis": list(self.legal_basis),
                "assumptions": [a.as_dict() for a in self.assumptions], "figures": list(self.figures),
                "warnings": [w.as_dict() for w in self.warnings]}
