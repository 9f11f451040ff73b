"""Checks a maintainer runs before training: the mistakes that silently hurt a classifier."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from nlu.data import Example, known_intents
from nlu.text import normalize


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate(examples: Sequence[Example], min_examples: int = 10) -> Report:
    report = Report()
    known = known_intents()
    by_text: dict[str, set[str]] = defaultdict(set)
    counts: Counter[tuple[str, str]] = Counter()
    for ex in examples:
        key = normalize(ex.text)
        by_text[key].add(ex.intent)
        counts[(key, ex.intent)] += 1
        if ex.intent not in known:
            report.errors.append(f"{ex.source}: unknown intent {ex.intent!r} (not a slug from PRODUCT.md)")
    for text, intents in by_text.items():
        if len(intents) > 1:
            report.errors.append(f"{text!r} is labelled {', '.join(sorted(intents))}")
    for (text, intent), n in counts.items():
        if n > 1:
            report.warnings.append(f"{text!r} appears {n} times under {intent}")
    per_intent = Counter(ex.intent for ex in examples)
    for intent in sorted(known):
        if per_intent[intent] < min_examples:
            report.warnings.append(f"{intent} has {per_intent[intent]} examples (fewer than {min_examples})")
    report.errors = list(dict.fromkeys(report.errors))
    return report
