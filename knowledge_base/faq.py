"""FAQ entries: the vetted answers the bot may give, one YAML file per slug under ``faq/``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import yamlio
from bot.taxonomy import Service, Topic


class FAQError(ValueError):
    """An FAQ file cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Citation:
    law: str
    article: int | None = None

    def __str__(self) -> str:
        if self.article is None:
            return f"《{self.law}》"
        return f"《{self.law}》第{self.article}条"


@dataclass
class Entry:
    id: str
    service: Service
    topic: Topic
    question: str
    paraphrases: list[str]
    answer: str
    legal_basis: list[Citation]
    next_step: str
    last_reviewed: dt.date
    lang: str = "zh"
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        """Everything a query may match: the question and its paraphrases."""
        return [self.question, *self.paraphrases]

    def basis_text(self) -> str:
        """Citations grouped by law: 《劳动合同法》第30条、第85条；《民法典》第1084条."""
        grouped: dict[str, list[int]] = {}
        for c in self.legal_basis:
            articles = grouped.setdefault(c.law, [])
            if c.article is not None and c.article not in articles:
                articles.append(c.article)
        return "；".join(
            f"《{law}》" + "、".join(f"第{a}条" for a in articles) for law, articles in grouped.items()
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service.value,
            "topic": self.topic.value,
            "lang": self.lang,
            "question": self.question,
            "paraphrases": self.paraphrases,
            "answer": self.answer,
            "legal_basis": [{"law": c.law, "article": c.article} for c in self.legal_basis],
            "next_step": self.next_step,
            "last_reviewed": self.last_reviewed.isoformat(),
        }


REQUIRED = ("id", "service", "topic", "question", "paraphrases", "answer", "legal_basis", "next_step", "last_reviewed")


def _citation(raw: Any, where: str) -> Citation:
    if not isinstance(raw, dict) or "law" not in raw:
        raise FAQError(f"{where}: each legal_basis item needs 'law' (and usually 'article')")
    article = raw.get("article")
    if article is not None and not isinstance(article, int):
        raise FAQError(f"{where}: article must be an integer, got {article!r}")
    return Citation(law=str(raw["law"]).strip("《》 "), article=article)


def parse_entry(raw: Any, source: str) -> Entry:
    if not isinstance(raw, dict):
        raise FAQError(f"{source}: every item must be a mapping")
    where = f"{source}: {raw.get('id', '?')}"
    missing = [k for k in REQUIRED if k not in raw or raw[k] in (None, "")]
    if missing:
        raise FAQError(f"{where}: missing {', '.join(missing)}")
    try:
        service = Service(raw["service"])
    except ValueError:
        raise FAQError(f"{where}: unknown service {raw['service']!r}") from None
    try:
        topic = Topic(raw["topic"])
    except ValueError:
        raise FAQError(f"{where}: unknown topic {raw['topic']!r}") from None
    paraphrases = raw["paraphrases"]
    if not isinstance(paraphrases, list) or not all(isinstance(p, str) and p.strip() for p in paraphrases):
        raise FAQError(f"{where}: paraphrases must be a list of non-empty strings")
    basis = raw["legal_basis"] or []
    if not isinstance(basis, list):
        raise FAQError(f"{where}: legal_basis must be a list")
    reviewed = raw["last_reviewed"]
    if isinstance(reviewed, str):
        try:
            reviewed = dt.date.fromisoformat(reviewed)
        except ValueError:
            raise FAQError(f"{where}: last_reviewed must be a date (YYYY-MM-DD)") from None
    if not isinstance(reviewed, dt.date):
        raise FAQError(f"{where}: last_reviewed must be a date (YYYY-MM-DD)")
    known = set(REQUIRED) | {"lang"}
    return Entry(
        id=str(raw["id"]),
        service=service,
        topic=topic,
        question=str(raw["question"]).strip(),
        paraphrases=[p.strip() for p in paraphrases],
        answer=str(raw["answer"]).strip(),
        legal_basis=[_citation(c, where) for c in basis],
        next_step=str(raw["next_step"]).strip(),
        last_reviewed=reviewed,
        lang=str(raw.get("lang", "zh")),
        source=source,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def load_file(path: Path) -> list[Entry]:
    try:
        doc = yamlio.read(path)
    except yaml.YAMLError as exc:
        raise FAQError(f"{path}: not valid YAML: {exc}") from exc
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise FAQError(f"{path}: the file must hold a list of entries")
    return [parse_entry(item, path.name) for item in doc]


def load_entries(directory: Path) -> list[Entry]:
    if not directory.is_dir():
        raise FAQError(f"{directory}: FAQ folder does not exist")
    entries = [e for path in sorted(directory.glob("*.yml")) for e in load_file(path)]
    seen: dict[str, str] = {}
    for e in entries:
        if e.id in seen:
            raise FAQError(f"{e.source}: duplicate id {e.id!r} (also in {seen[e.id]})")
        seen[e.id] = e.source
    if not entries:
        raise FAQError(f"{directory}: no FAQ entries found")
    return entries
