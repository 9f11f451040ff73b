"""The built-in NLU: TF-IDF over character n-grams, one calibrated linear classifier per axis.

No TensorFlow, trains in seconds on two cores, and gives a probability for every label.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from bot.taxonomy import Act, Service
from nlu import semantic
from nlu import text as textmod
from nlu.backend import NLUBackend, NLUUnavailable, Rankings, UrgencyScore
from nlu.data import Example
from nlu.fast import FastCalibrated
from nlu.urgency import UrgencyModel

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
URGENCY_FILE = "urgency.joblib"
META_FILE = "meta.json"
CURRENT = "CURRENT"


def _pipeline(calibration_folds: int = 5) -> Pipeline:
    """Character 1-3-grams, a linear SVM per axis, isotonic calibration for honest confidences.

    Chosen by 5-fold cross-validation on training_data/ during development (topic axis, 1,105 examples):
    logistic regression macro-F1 0.59 with calibration error 0.26; this model 0.64 with 0.10, ten times
    faster to train. Adding jieba word features lowered macro-F1 (0.60). bench/nlu compares it with Rasa.
    """
    features = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    classifier = CalibratedClassifierCV(LinearSVC(C=1.0, class_weight="balanced"), method="isotonic",
                                        cv=calibration_folds)
    return Pipeline([("features", features), ("classifier", classifier)])


def axis_datasets(examples: Sequence[Example]) -> dict[str, tuple[list[str], list[str]]]:
    """Training texts and labels for each axis.

    Topic questions count as ``consultation`` for the service axis, and every service or topic example
    is a ``question`` for the act axis: the data is labelled on one axis, the others follow.
    """
    service: tuple[list[str], list[str]] = ([], [])
    topic: tuple[list[str], list[str]] = ([], [])
    act: tuple[list[str], list[str]] = ([], [])
    for ex in examples:
        text = textmod.normalize(ex.text)
        if ex.axis == "service":
            service[0].append(text)
            service[1].append(ex.label)
            act[0].append(text)
            act[1].append(Act.question.value)
        elif ex.axis == "topic":
            topic[0].append(text)
            topic[1].append(ex.label)
            service[0].append(text)
            service[1].append(Service.consultation.value)
            act[0].append(text)
            act[1].append(Act.question.value)
        else:
            act[0].append(text)
            act[1].append(ex.label)
    return {"service": service, "topic": topic, "act": act}


@dataclass
class BuiltinModel:
    pipelines: dict[str, Pipeline]
    meta: dict[str, Any]
    urgency: UrgencyModel | None = None

    def __post_init__(self) -> None:
        self._fast = {axis: _fast(pipe) for axis, pipe in self.pipelines.items()}

    def urgency_score(self, text: str) -> UrgencyScore | None:
        model = self.urgency
        if model is None or not isinstance(model, UrgencyModel):
            return None  # none trained, or one from before the three-way triage: rules only
        vector = None
        if model.semantic:
            try:
                vector = semantic.shared().query(textmod.normalize(text))
            except semantic.EncoderUnavailable as exc:
                raise NLUUnavailable(str(exc)) from exc
        probability, kind = model.score(text, vector)
        return self._score(probability, kind)

    def urgency_scores(self, texts: Sequence[str]) -> list[UrgencyScore | None]:
        """Many messages at once (evaluation): vectors from the on-disk cache, one batch through the model."""
        model = self.urgency
        if model is None or not isinstance(model, UrgencyModel):
            return [None] * len(texts)
        normalized = [textmod.normalize(t) for t in texts]
        vectors = semantic.shared().queries(normalized) if model.semantic else None
        return [self._score(probability, kind) for probability, kind in model.scores(normalized, vectors)]

    def _score(self, probability: float, kind: str | None) -> UrgencyScore:
        assert self.urgency is not None
        return UrgencyScore(probability=probability, threshold=self.urgency.threshold, reason=kind,
                            check_threshold=self.urgency.check_threshold)

    def rank(self, text: str) -> Rankings:
        normalized = textmod.normalize(text)
        result = Rankings()
        matrices: dict[int, Any] = {}  # axes that share a vectorizer transform the message once
        for axis, pipe in self.pipelines.items():
            fast = self._fast.get(axis)
            if fast is not None:
                key = id(fast.features)
                if key not in matrices:
                    matrices[key] = fast.features.transform([normalized])
                probs = fast.predict_proba_matrix(matrices[key])[0]
            else:
                probs = pipe.predict_proba([normalized])[0]
            labels = pipe.classes_
            ranking = sorted(zip(labels, probs, strict=True), key=lambda lp: -lp[1])
            setattr(result, axis, [(str(label), float(p)) for label, p in ranking])
        return result


def _fast(pipe: Pipeline) -> FastCalibrated | None:
    try:
        return FastCalibrated(pipe)
    except (TypeError, ValueError):
        return None  # sklearn's own predict_proba still works


def train(examples: Sequence[Example], progress: bool = False) -> BuiltinModel:
    from tqdm import tqdm

    started = time.perf_counter()
    data = axis_datasets(examples)
    # One vectorizer for all axes (every example is in the act axis): a message is transformed once.
    features = _pipeline().steps[0][1].fit(data["act"][0])
    pipelines: dict[str, Pipeline] = {}
    for axis in tqdm(data, desc="training NLU", unit="axis", disable=not progress):
        texts, labels = data[axis]
        counts = Counter(labels)
        if len(counts) < 2:
            raise ValueError(f"axis {axis!r} needs examples of at least two labels, found {sorted(counts)}")
        rarest, fewest = min(counts.items(), key=lambda kv: kv[1])
        if fewest < 2:
            raise ValueError(f"label {rarest!r} has only {fewest} example: add more before training")
        pipe = _pipeline(calibration_folds=min(5, fewest))
        pipe.steps[0] = ("features", features)
        pipe.steps[-1][1].fit(features.transform(texts), labels)
        pipelines[axis] = pipe
    digest = hashlib.sha256("\n".join(sorted(f"{e.intent}\t{e.text}" for e in examples)).encode()).hexdigest()
    meta = {
        "backend": "builtin",
        "examples": len(examples),
        "data_sha256": digest[:16],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "train_seconds": round(time.perf_counter() - started, 3),
        "labels": {axis: sorted(set(labels)) for axis, (_, labels) in data.items()},
    }
    return BuiltinModel(pipelines=pipelines, meta=meta)


def save(model: BuiltinModel, models_dir: Path, promote: bool = True) -> Path:
    """Write a versioned model folder under ``models_dir`` and, if asked, make it current."""
    version = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + model.meta["data_sha256"][:8]
    target = models_dir / version
    target.mkdir(parents=True, exist_ok=True)
    joblib.dump(model.pipelines, target / MODEL_FILE)
    if model.urgency is not None:
        joblib.dump(model.urgency, target / URGENCY_FILE)
    (target / META_FILE).write_text(json.dumps({**model.meta, "version": version}, ensure_ascii=False, indent=2))
    if promote:
        promote_version(models_dir, version)
    return target


def promote_version(models_dir: Path, version: str) -> None:
    tmp = models_dir / (CURRENT + ".tmp")
    tmp.write_text(version)
    tmp.replace(models_dir / CURRENT)  # atomic: a running server never reads half a name


def load(path: Path) -> BuiltinModel:
    pipelines = joblib.load(path / MODEL_FILE)
    meta = json.loads((path / META_FILE).read_text())
    urgency = joblib.load(path / URGENCY_FILE) if (path / URGENCY_FILE).exists() else None
    return BuiltinModel(pipelines=pipelines, meta=meta, urgency=urgency)


def current_path(models_dir: Path) -> Path | None:
    pointer = models_dir / CURRENT
    if not pointer.exists():
        return None
    return models_dir / pointer.read_text().strip()


class BuiltinBackend(NLUBackend):
    """Serves the promoted model and picks up a newly promoted one without a restart."""

    name = "builtin"

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._model: BuiltinModel | None = None
        self._loaded: str | None = None

    def _ensure(self) -> BuiltinModel:
        path = current_path(self.models_dir)
        if path is None:
            raise NLUUnavailable(f"no NLU model under {self.models_dir}: run `legalbot nlu train`")
        if self._model is None or path.name != self._loaded:
            self._model = load(path)
            self._loaded = path.name
            log.info("loaded NLU model %s", path.name)
        return self._model

    def rank(self, text: str) -> Rankings:
        return self._ensure().rank(text)

    def urgency(self, text: str) -> UrgencyScore | None:
        return self._ensure().urgency_score(text)

    def version(self) -> str:
        return self._ensure().meta.get("version", self._loaded or "unknown")
