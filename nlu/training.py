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

import numpy as np

from nlu import builtin, semantic, urgency
from nlu.data import Example, load_training_data
from nlu.evaluate import cross_validate, intent_report, summary
from nlu.text import normalize
from nlu.triage import triage, urgency_reasons
from nlu.urgency import UrgencyModel

#: A drop smaller than this is noise, not a regression.
TOLERANCE = 0.002


def urgency_sets() -> dict[str, Path]:
    """The labelled urgency sets nothing trains on: ``heldout`` was written apart from training_data/
    by writers who never read it (the figure that counts); ``team`` by the hands that wrote the data."""
    folder = Path(__file__).resolve().parent.parent / "tests" / "data"
    return {"heldout": folder / "urgency_heldout.jsonl", "team": folder / "urgency_test.jsonl"}


def urgency_report(rows: list[dict[str, Any]], model: builtin.BuiltinModel | None = None,
                   amount_limit: int = 500_000) -> dict[str, Any]:
    """What triage does with each labelled message: alarm (urgent), safety check, or nothing.

    ``urgent_recall``: urgent messages the bot does not let pass (alarm or check), over all urgent.
    ``alarm_recall``: urgent messages that raise the alarm at once. ``urgent_precision``: alarms that
    were urgent, over all alarms. ``false_alarm_rate`` and ``check_rate``: not-urgent messages that
    got the alarm, or the safety question. The same figures per kind (a negative's kind is the kind
    whose words it borrows).
    """
    def blank() -> dict[str, int]:
        return {"urgent": 0, "alarm": 0, "check": 0, "negatives": 0, "false_alarm": 0, "negative_check": 0}

    total, kinds = blank(), dict[str, dict[str, int]]()
    learned = model.urgency_scores([row["text"] for row in rows]) if model is not None else [None] * len(rows)
    for row, score in zip(rows, learned, strict=True):
        result = triage(row["text"], amount_limit, score)
        for counts in (total, kinds.setdefault(row.get("kind") or "unknown", blank())):
            if row["urgent"]:
                counts["urgent"] += 1
                counts["alarm"] += result.urgent
                counts["check"] += result.safety_check
            else:
                counts["negatives"] += 1
                counts["false_alarm"] += result.urgent
                counts["negative_check"] += result.safety_check

    def rates(c: dict[str, int]) -> dict[str, Any]:
        alarms = c["alarm"] + c["false_alarm"]
        return {
            "urgent_recall": round((c["alarm"] + c["check"]) / max(c["urgent"], 1), 4),
            "alarm_recall": round(c["alarm"] / max(c["urgent"], 1), 4),
            "urgent_precision": round(c["alarm"] / alarms, 4) if alarms else 1.0,
            "false_alarm_rate": round(c["false_alarm"] / max(c["negatives"], 1), 4),
            "check_rate": round(c["negative_check"] / max(c["negatives"], 1), 4),
            "urgent_n": c["urgent"], "non_urgent_n": c["negatives"],
        }

    return {**rates(total), "per_kind": {kind: rates(c) for kind, c in sorted(kinds.items())}}


def urgency_metrics(model: builtin.BuiltinModel | None = None) -> dict[str, Any]:
    """Flat metrics for the model's meta and the promotion gate: the held-out set's figures as
    ``urgent_*``, the team's own set's as ``team_urgent_*``."""
    metrics: dict[str, Any] = {}
    for name, path in urgency_sets().items():
        if not path.exists():
            continue
        report = urgency_report(urgency.load_labelled_jsonl(path), model)
        prefix = "" if name == "heldout" else f"{name}_"
        metrics.update({f"{prefix}{key}": value for key, value in report.items() if key != "per_kind"})
    return metrics


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


def urgency_examples(training_data: Path) -> list[tuple[str, str]]:
    """training_data/urgency.yml, the everyday intent examples as ``not_urgent``, and the development set."""
    path = training_data / "urgency.yml"
    if not path.exists():
        return []
    examples = urgency.load_examples(path)
    # Everyday traffic is the commonest non-urgent message: the intent examples (greetings, ordinary
    # legal questions) keep the model from alarming on "good morning". Rule-flagged ones are left out.
    examples += [(ex.text, urgency.NOT_URGENT) for ex in load_training_data(training_data)
                 if not urgency_reasons(ex.text)]
    dev_path = default_urgency_dev()
    if dev_path.exists():
        examples += [(row["text"], row["kind"] if row["urgent"] else urgency.NOT_URGENT)
                     for row in urgency.load_labelled_jsonl(dev_path)]
    return examples


def train_urgency(training_data: Path, semantic_features: bool = True) -> UrgencyModel | None:
    """Train on :func:`urgency_examples`; pick both thresholds from out-of-fold predictions."""
    examples = urgency_examples(training_data)
    if not examples:
        return None
    vectors = None
    if semantic_features:
        vectors = semantic.shared().queries([normalize(t) for t, _ in examples])
    labels = np.array([label != urgency.NOT_URGENT for _, label in examples])
    rules = np.array([bool(urgency_reasons(t)) for t, _ in examples])
    probs = urgency.out_of_fold(examples, vectors)
    model = urgency.train(examples, vectors)
    model.threshold, model.check_threshold = urgency.choose_thresholds(labels, probs, rules)
    model.meta = {"examples": len(examples), "urgent_examples": int(labels.sum()),
                  "threshold": model.threshold, "check_threshold": model.check_threshold,
                  "semantic": model.semantic}
    return model


def train_and_promote(training_data: Path, models_dir: Path, *, folds: int = 5, force: bool = False,
                      progress: bool = False) -> TrainResult:
    examples = load_training_data(training_data)
    model = builtin.train(examples, progress=progress)
    model.urgency = train_urgency(training_data)
    model.meta["urgency"] = model.urgency.meta if model.urgency else None
    metrics = measure(examples, folds=folds, progress=progress) if folds >= 2 else {}
    if folds >= 2:
        metrics.update(urgency_metrics(model))
    model.meta["metrics"] = metrics
    previous = current_metrics(models_dir)
    worse = regressions(metrics, previous) if previous and metrics else []
    promote = force or not worse
    path = builtin.save(model, models_dir, promote=promote)
    return TrainResult(path=path, metrics=metrics, promoted=promote, previous=previous, regressions=worse)


def urgency_table(report: dict[str, Any]) -> str:
    """A report from :func:`urgency_report` as a Markdown table, one row per kind and a total."""
    lines = ["| kind | urgent | noticed (alarm or check) | alarm | negatives | false alarms | checks |",
             "|---|---|---|---|---|---|---|"]
    for kind, r in [*report["per_kind"].items(), ("**all**", report)]:
        lines.append(f"| {kind} | {r['urgent_n']} | {r['urgent_recall']:.3f} | {r['alarm_recall']:.3f} | "
                     f"{r['non_urgent_n']} | {r['false_alarm_rate']:.3f} | {r['check_rate']:.3f} |")
    lines.append("")
    lines.append(f"Alarm precision {report['urgent_precision']:.3f}.")
    return "\n".join(lines)
