"""Turns a message into a classification: backend rankings plus triage, with the contract's fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.taxonomy import Act, Service, Topic
from nlu.backend import NLUBackend, Rankings
from nlu.triage import Triage, triage


@dataclass
class Classification:
    text: str
    service: Service
    service_confidence: float
    topic: Topic
    topic_confidence: float
    act: Act
    act_confidence: float
    urgent: bool
    rankings: Rankings
    triage: Triage = field(default_factory=Triage)

    def top_topics(self, n: int = 3) -> list[Topic]:
        return [Topic(label) for label, _ in self.rankings.topic[:n] if label in Topic.__members__]

    def contract(self) -> dict[str, Any]:
        """The object `legalbot classify --json` prints (PRODUCT.md's command-line contract)."""
        return {
            "text": self.text,
            "service": self.service.value,
            "service_confidence": round(self.service_confidence, 4),
            "topic": self.topic.value,
            "topic_confidence": round(self.topic_confidence, 4),
            "act": self.act.value,
            "urgent": self.urgent,
            "ranking": self.rankings.as_dict(),
        }

    def decision(self) -> dict[str, Any]:
        return {
            **self.contract(),
            "act_confidence": round(self.act_confidence, 4),
            "urgent_reasons": self.triage.urgent_reasons,
            "complex_reasons": self.triage.complex_reasons,
        }


def _top(ranking: list[tuple[str, float]], enum: Any, default: Any) -> tuple[Any, float]:
    for label, conf in ranking:
        if label in enum.__members__:
            return enum(label), conf
    return default, 0.0


class Classifier:
    def __init__(self, backend: NLUBackend, amount_limit: int = 500_000) -> None:
        self.backend = backend
        self.amount_limit = amount_limit

    def classify(self, text: str) -> Classification:
        rankings = self.backend.rank(text)
        service, service_conf = _top(rankings.service, Service, Service.consultation)
        topic, topic_conf = _top(rankings.topic, Topic, Topic.other)
        act, act_conf = _top(rankings.act, Act, Act.question)
        result = triage(text, self.amount_limit)
        return Classification(
            text=text,
            service=service,
            service_confidence=service_conf,
            topic=topic,
            topic_confidence=topic_conf,
            act=act,
            act_confidence=act_conf,
            urgent=result.urgent,
            rankings=rankings,
            triage=result,
        )
