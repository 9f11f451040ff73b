"""Turns a message into a classification: backend rankings plus triage, with the contract's fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.taxonomy import Act, Service, Topic
from nlu.backend import NLUBackend, NLUUnavailable, Rankings
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
    #: Two or more areas asked about in separate clauses: (area, its clauses), in the order asked.
    issues: list[tuple[Topic, str]] = field(default_factory=list)

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
            "safety_check": self.triage.safety_check,
            "ranking": self.rankings.as_dict(),
        }

    def decision(self) -> dict[str, Any]:
        return {
            **self.contract(),
            "act_confidence": round(self.act_confidence, 4),
            "urgent_reasons": self.triage.urgent_reasons,
            "urgency_probability": self.triage.urgency_probability,
            "check_kind": self.triage.check_kind,
            "complex_reasons": self.triage.complex_reasons,
        }


def _top(ranking: list[tuple[str, float]], enum: Any, default: Any) -> tuple[Any, float]:
    for label, conf in ranking:
        if label in enum.__members__:
            return enum(label), conf
    return default, 0.0


_CLAUSE = re.compile(r"[。！？!?；;\n]+|另外|还有一个问题|还有就是|此外|再问一下|顺便问")


class Classifier:
    #: A clause must be at least this long, and its topic this confident, to count as a separate issue.
    MIN_CLAUSE_CHARS = 8
    ISSUE_CONFIDENCE = 0.5

    def __init__(self, backend: NLUBackend, amount_limit: int = 500_000,
                 urgency_source: NLUBackend | None = None) -> None:
        self.backend = backend
        self.amount_limit = amount_limit
        #: Where learned urgency comes from when the backend has none (e.g. Rasa): the built-in model.
        self.urgency_source = urgency_source or backend

    def issues(self, text: str) -> list[tuple[Topic, str]]:
        """The distinct areas of law asked about in separate clauses of one message, each with its
        clauses; a clause whose area is unclear belongs to the issue before it."""
        clauses = [c.strip() for c in _CLAUSE.split(text) if len(c.strip()) >= self.MIN_CLAUSE_CHARS]
        if len(clauses) < 2:
            return []
        found: dict[Topic, list[str]] = {}
        current: Topic | None = None
        for clause in clauses[:6]:
            label, conf = _top(self.backend.rank(clause).topic, Topic, Topic.other)
            if conf >= self.ISSUE_CONFIDENCE and label is not Topic.other:
                current = label
            if current is not None:
                found.setdefault(current, []).append(clause)
        return [(topic, "，".join(parts)) for topic, parts in found.items()] if len(found) >= 2 else []

    def classify(self, text: str) -> Classification:
        rankings = self.backend.rank(text)
        service, service_conf = _top(rankings.service, Service, Service.consultation)
        topic, topic_conf = _top(rankings.topic, Topic, Topic.other)
        act, act_conf = _top(rankings.act, Act, Act.question)
        try:
            learned = self.urgency_source.urgency(text)
        except NLUUnavailable:
            learned = None  # rules still apply
        result = triage(text, self.amount_limit, learned)
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
            issues=self.issues(text) if act is Act.question else [],
        )
