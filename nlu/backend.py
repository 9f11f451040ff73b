"""The NLU extension point: a backend ranks labels on each axis; triage and policy live elsewhere."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

#: label -> confidence, best first, for each axis ("service", "topic", "act").
Ranking = list[tuple[str, float]]


@dataclass
class Rankings:
    service: Ranking = field(default_factory=list)
    topic: Ranking = field(default_factory=list)
    act: Ranking = field(default_factory=list)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            axis: {label: round(conf, 4) for label, conf in getattr(self, axis)}
            for axis in ("service", "topic", "act")
        }


@dataclass
class UrgencyScore:
    """The learned urgency model's view of one message."""

    probability: float
    #: At or above: danger, raise the alarm.
    threshold: float
    #: The kind of danger the model reads (nlu/urgency.py KINDS), when it would alarm or check.
    reason: str | None = None
    #: At or above (and below ``threshold``): unsure, ask the citizen whether they are safe.
    check_threshold: float | None = None

    @property
    def urgent(self) -> bool:
        return self.probability >= self.threshold

    @property
    def unsure(self) -> bool:
        return not self.urgent and self.check_threshold is not None and self.probability >= self.check_threshold


class NLUUnavailable(RuntimeError):
    """The backend cannot parse right now (no model trained, Rasa server down)."""


class NLUBackend(ABC):
    name: str = "abstract"

    @abstractmethod
    def rank(self, text: str) -> Rankings:
        """Rank every label on every axis for one normalised message."""

    def version(self) -> str:
        return "unknown"

    def urgency(self, text: str) -> UrgencyScore | None:
        """The backend's learned urgency, if it has one (rules in nlu/triage.py apply regardless)."""
        return None


class FixedBackend(NLUBackend):
    """Test double: returns the rankings it was given, whatever the text."""

    name = "fixed"

    def __init__(self, rankings: Rankings | None = None, by_text: dict[str, Rankings] | None = None) -> None:
        self.default = rankings or Rankings(
            service=[("consultation", 1.0)], topic=[("other", 1.0)], act=[("question", 1.0)]
        )
        self.by_text = by_text or {}

    def rank(self, text: str) -> Rankings:
        return self.by_text.get(text, self.default)
