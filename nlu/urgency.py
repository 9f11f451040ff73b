"""Learned urgency: a calibrated classifier over character n-grams, trained on training_data/urgency.yml.

Rules (nlu/triage.py) catch the unmistakable phrasings; this model catches the many ways people
describe danger that no rule lists. A message is urgent when either fires. The decision threshold
is chosen when the model is trained, on the separate development set nlu/eval/urgency_dev.jsonl, as
the highest threshold that still reaches the recall target there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from nlu.text import normalize

NOT_URGENT = "not_urgent"
RECALL_TARGET = 0.98
DEFAULT_THRESHOLD = 0.5


class UrgencyDataError(ValueError):
    pass


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs; label is an urgency reason or ``not_urgent``."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UrgencyDataError(f"{path}: not valid YAML: {exc}") from exc
    pairs = []
    for block in doc.get("urgency") or []:
        label = str(block.get("label", ""))
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- ") and line[2:].strip():
                pairs.append((line[2:].strip(), label))
    return pairs


def load_labelled_jsonl(path: Path) -> list[tuple[str, bool]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], bool(r["urgent"])) for r in rows]


def _pipeline(folds: int) -> Pipeline:
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)),
        ("pairs", TfidfVectorizer(analyzer="char", ngram_range=(2, 4), sublinear_tf=True, max_features=60_000)),
    ])
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), method="sigmoid", cv=folds)
    return Pipeline([("features", features), ("classifier", classifier)])


@dataclass
class UrgencyModel:
    binary: Pipeline
    reasons: Pipeline
    threshold: float = DEFAULT_THRESHOLD

    def probability(self, text: str) -> float:
        probs = self.binary.predict_proba([normalize(text)])[0]
        return float(probs[list(self.binary.classes_).index(True)])

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        probs = self.binary.predict_proba([normalize(t) for t in texts])
        return probs[:, list(self.binary.classes_).index(True)]

    def reason(self, text: str) -> str:
        return str(self.reasons.predict([normalize(text)])[0])


def train(examples: Sequence[tuple[str, str]]) -> UrgencyModel:
    texts = [normalize(t) for t, _ in examples]
    urgent = [label != NOT_URGENT for _, label in examples]
    if len(set(urgent)) < 2:
        raise UrgencyDataError("urgency data needs both urgent and not_urgent examples")
    binary = _pipeline(folds=5).fit(texts, urgent)
    reason_texts = [t for t, u in zip(texts, urgent, strict=True) if u]
    reason_labels = [label for (_, label), u in zip(examples, urgent, strict=True) if u]
    reasons = Pipeline([("features", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)),
                        ("classifier", LinearSVC(C=0.5, class_weight="balanced"))]).fit(reason_texts, reason_labels)
    return UrgencyModel(binary=binary, reasons=reasons)


def choose_threshold(model: UrgencyModel, dev: Sequence[tuple[str, bool]], rules: Sequence[bool],
                     target: float = RECALL_TARGET) -> float:
    """The highest threshold at which model-or-rules reaches ``target`` recall on the development set."""
    probs = model.probabilities([t for t, _ in dev])
    labels = np.array([u for _, u in dev])
    fired = np.array(rules)
    best = 0.05
    for threshold in np.arange(0.95, 0.04, -0.01):
        predicted = fired | (probs >= threshold)
        recall = (predicted & labels).sum() / max(labels.sum(), 1)
        if recall >= target:
            best = float(threshold)
            break
    return round(best, 2)
