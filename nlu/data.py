"""Reads intent training data in Rasa 3.x YAML (``version: "3.1"``, ``nlu:`` with intents)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot import yamlio
from bot.taxonomy import Act, Service, Topic

SERVICE_PREFIX = "service_"
TOPIC_PREFIX = "topic_"
_ENTITY = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")


class TrainingDataError(ValueError):
    """The training data cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    source: str

    @property
    def axis(self) -> str:
        return axis_of(self.intent)

    @property
    def label(self) -> str:
        return label_of(self.intent)


def axis_of(intent: str) -> str:
    if intent.startswith(SERVICE_PREFIX):
        return "service"
    if intent.startswith(TOPIC_PREFIX):
        return "topic"
    return "act"


def label_of(intent: str) -> str:
    for prefix in (SERVICE_PREFIX, TOPIC_PREFIX):
        if intent.startswith(prefix):
            return intent[len(prefix) :]
    return intent


def known_intents() -> set[str]:
    return (
        {SERVICE_PREFIX + s for s in Service}
        | {TOPIC_PREFIX + t for t in Topic}
        | {a.value for a in Act if a is not Act.question}
    )


def _examples_block(block: object, where: str) -> list[str]:
    if not isinstance(block, str):
        raise TrainingDataError(f"{where}: 'examples' must be a block of '- ' lines")
    out = []
    for line in block.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("- "):
            raise TrainingDataError(f"{where}: example line does not start with '- ': {line[:40]!r}")
        text = _ENTITY.sub(lambda m: m.group(1) or m.group(2), line[2:].strip())
        if text:
            out.append(text)
    return out


def load_file(path: Path) -> list[Example]:
    try:
        doc = yamlio.read(path)
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{path}: not valid YAML: {exc}") from exc
    if not doc or "nlu" not in doc:
        return []
    examples: list[Example] = []
    for i, item in enumerate(doc["nlu"] or []):
        if not isinstance(item, dict):
            raise TrainingDataError(f"{path}: nlu item {i} is not a mapping")
        if "intent" not in item:
            continue  # synonyms, regex and lookup tables
        intent = str(item["intent"])
        for text in _examples_block(item.get("examples"), f"{path}: intent {intent}"):
            examples.append(Example(text=text, intent=intent, source=str(path)))
    return examples


def load_training_data(directory: Path) -> list[Example]:
    if not directory.exists():
        raise TrainingDataError(f"{directory}: training data folder does not exist")
    # Intent examples live in nlu/ (as `rasa train nlu --nlu training_data/nlu` expects); a folder
    # without one is read whole.
    source = directory / "nlu" if (directory / "nlu").is_dir() else directory
    files = sorted(p for p in source.rglob("*") if p.suffix in {".yml", ".yaml"})
    examples = [ex for path in files for ex in load_file(path)]
    if not examples:
        raise TrainingDataError(f"{directory}: no intent examples found")
    return examples
