"""The maintainer's retraining loop: train, measure, and promote only a model that is not worse.

A model's metrics (cross-validated macro-F1 per axis, urgent recall and precision on the labelled
urgency set) are written beside it. A new model replaces the one in service only if no macro-F1 and
not the urgent recall drop; ``force`` overrides that for a maintainer who knows why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlu import builtin, urgency
from nlu.data import Example, load_training_data
from nlu.evaluate import cross_validate, intent_report, summary
from nlu.triage import triage, urgency_reasons
from nlu.urgency import UrgencyModel

#: A drop smaller than this is noise, not a regression.
TOLERANCE = 0.002


def default_urgency_set() -> Path:
    return Path(__file__).resolve().parent.parent / "tests" / "data" / "urgency_test.jsonl"


def urgency_metrics(path: Path, model: builtin.BuiltinModel | None = None,
                    amount_limit: int = 500_000) -> dict[str, float] | None:
    """Recall and precision of triage (rules plus the model's learned urgency) on a labelled set."""
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    tp = fp = fn = tn = 0
    for row in rows:
        learned = model.urgency_score(row["text"]) if model is not None else None
        predicted = triage(row["text"], amount_limit, learned).urgent
        if row["urgent"]:
            tp += predicted
            fn += not predicted
        else:
            fp += predicted
            tn += not predicted
    return {
        "urgent_recall": round(tp / max(tp + fn, 1), 4),
        "urgent_precision": round(tp / max(tp + fp, 1), 4),
        "urgent_n": tp + fn, "non_urgent_n": fp + tn,
    }


def measure(examples: list[Example], folds: int, progress: bool = False) -> dict[str, Any]:
    report = intent_report(cross_validate(examples, folds=folds, progress=progress))
    metrics: dict[str, Any] = {f"{axis}_macro_f1": f1 for axis, f1 in summary(report).items()}
    metrics["folds"] = folds
    return metrics


def regressions(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Metrics of the new model that are worse than those of the model in service."""
    keys = [k for k in old if k.endswith("_macro_f1") or k == "urgent_recall"]
    return [f"{k} {old[k]:.4f} -> {new.get(k, 0.0):.4f}" for k in keys
            if isinstance(old.get(k), int | float) and new.get(k, 0.0) < old[k] - TOLERANCE]


@dataclass
class TrainResult:
    path: Path
    metrics: dict[str, Any]
    promoted: bool
    previous: dict[str, Any] | None = None
    regressions: list[str] = field(default_factory=list)


def current_metrics(models_dir: Path) -> dict[str, Any] | None:
    path = builtin.current_path(models_dir)
    if path is None or not (path / builtin.META_FILE).exists():
        return None
    return json.loads((path / builtin.META_FILE).read_text()).get("metrics")


def default_urgency_dev() -> Path:
    return Path(__file__).resolve().parent / "eval" / "urgency_dev.jsonl"


def train_urgency(training_data: Path) -> UrgencyModel | None:
    """Train on training_data/urgency.yml plus the development set; pick the threshold by cross-validation."""
    path = training_data / "urgency.yml"
    if not path.exists():
        return None
    examples = urgency.load_examples(path)
    # Everyday traffic is the commonest non-urgent message: the intent examples (greetings, ordinary
    # legal questions) keep the model from alarming on "good morning". Rule-flagged ones are left out.
    examples += [(ex.text, urgency.NOT_URGENT) for ex in load_training_data(training_data)
                 if not urgency_reasons(ex.text)]
    dev_path = default_urgency_dev()
    if dev_path.exists():
        examples += [(text, "urgent" if is_urgent else urgency.NOT_URGENT)
                     for text, is_urgent in urgency.load_labelled_jsonl(dev_path)]
    model = urgency.train(examples)
    model.threshold = urgency.choose_threshold(examples, [bool(urgency_reasons(t)) for t, _ in examples])
    return model


def train_and_promote(training_data: Path, models_dir: Path, *, folds: int = 5, force: bool = False,
                      progress: bool = False) -> TrainResult:
    examples = load_training_data(training_data)
    model = builtin.train(examples, progress=progress)
    model.urgency = train_urgency(training_data)
    model.__post_init__()  # fast inference for the urgency model too
    model.meta["urgency_threshold"] = model.urgency.threshold if model.urgency else None
    metrics = measure(examples, folds=folds, progress=progress) if folds >= 2 else {}
    urgency_result = urgency_metrics(default_urgency_set(), model=model)
    if urgency_result and folds >= 2:
        metrics.update(urgency_result)
    model.meta["metrics"] = metrics
    previous = current_metrics(models_dir)
    worse = regressions(metrics, previous) if previous and metrics else []
    promote = force or not worse
    path = builtin.save(model, models_dir, promote=promote)
    return TrainResult(path=path, metrics=metrics, promoted=promote, previous=previous, regressions=worse)
