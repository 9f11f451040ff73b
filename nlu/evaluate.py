"""Evaluation of the built-in NLU on the maintainers' own data, the way `rasa test nlu` reports it.

Cross-validation (stratified k folds over intents) predicts every example with a model that did not
see it; the reports say per label what was confused with what, how confident right and wrong
predictions were, and which examples failed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from nlu import builtin
from nlu.data import Example

AXES = ("service", "topic", "act")


@dataclass
class Prediction:
    text: str
    axis: str
    label: str
    predicted: str
    confidence: float


@dataclass
class CrossValidation:
    predictions: list[Prediction] = field(default_factory=list)
    folds: int = 0

    def axis(self, axis: str) -> list[Prediction]:
        return [p for p in self.predictions if p.axis == axis]


def cross_validate(examples: Sequence[Example], folds: int = 5, seed: int = 7,
                   progress: bool = False) -> CrossValidation:
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    intents = [ex.intent for ex in examples]
    smallest = min(Counter(intents).values())
    if smallest < folds:
        raise ValueError(f"an intent has only {smallest} examples: use at most {smallest} folds")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    result = CrossValidation(folds=folds)
    splits = list(splitter.split(np.zeros(len(examples)), intents))
    for train_idx, test_idx in tqdm(splits, desc="cross-validating", unit="fold", disable=not progress):
        model = builtin.train([examples[i] for i in train_idx])
        test = [examples[i] for i in test_idx]
        for axis, (texts, labels) in builtin.axis_datasets(test).items():
            if not texts:
                continue
            pipe = model.pipelines[axis]
            probabilities = pipe.predict_proba(texts)
            for text, label, row in zip(texts, labels, probabilities, strict=True):
                best = int(np.argmax(row))
                result.predictions.append(Prediction(text, axis, label, str(pipe.classes_[best]), float(row[best])))
    return result


def expected_calibration_error(preds: Sequence[Prediction], bins: int = 10) -> float:
    """How far confidence is from accuracy, averaged over confidence bins (0 = perfectly calibrated)."""
    if not preds:
        return 0.0
    conf = np.array([p.confidence for p in preds])
    correct = np.array([p.label == p.predicted for p in preds], dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(total)


def intent_report(cv: CrossValidation) -> dict[str, Any]:
    """Per axis: per-label precision/recall/F1/support and confused_with, plus macro and accuracy."""
    report: dict[str, Any] = {}
    for axis in AXES:
        preds = cv.axis(axis)
        if not preds:
            continue
        y_true = [p.label for p in preds]
        y_pred = [p.predicted for p in preds]
        labels = sorted(set(y_true))
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        confused: dict[str, Counter[str]] = defaultdict(Counter)
        for p in preds:
            if p.label != p.predicted:
                confused[p.label][p.predicted] += 1
        per_label = {
            label: {
                "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                "f1-score": round(float(f1[i]), 4), "support": int(support[i]),
                "confused_with": dict(confused[label].most_common(3)),
            }
            for i, label in enumerate(labels)
        }
        report[axis] = {
            "labels": per_label,
            "accuracy": round(float(np.mean([t == p for t, p in zip(y_true, y_pred, strict=True)])), 4),
            "macro_f1": round(float(np.mean(f1)), 4),
            "expected_calibration_error": round(expected_calibration_error(preds), 4),
            "n": len(preds),
        }
    return report


def errors(cv: CrossValidation) -> list[dict[str, Any]]:
    wrong = [p for p in cv.predictions if p.label != p.predicted]
    wrong.sort(key=lambda p: -p.confidence)
    return [{"text": p.text, "axis": p.axis, "label": p.label, "predicted": p.predicted,
             "confidence": round(p.confidence, 4)} for p in wrong]


def plot_confusion(cv: CrossValidation, axis: str, path: Path) -> None:
    """One axis's confusion matrix: rows normalised to the share of each true label, with a colour
    bar, the count in every non-empty cell and every label in full."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preds = cv.axis(axis)
    labels = sorted({p.label for p in preds} | {p.predicted for p in preds})
    counts = confusion_matrix([p.label for p in preds], [p.predicted for p in preds], labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    side = max(5.0, 0.55 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true label's examples")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    for (i, j), v in np.ndenumerate(counts):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{axis}: {len(preds)} examples, rows sum to 1")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_histogram(cv: CrossValidation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    bins = np.linspace(0, 1, 21)
    for ax, axis in zip(axes, AXES, strict=True):
        preds = cv.axis(axis)
        ax.hist([p.confidence for p in preds if p.label == p.predicted], bins=bins, alpha=0.7, label="correct",
                color="tab:green")
        ax.hist([p.confidence for p in preds if p.label != p.predicted], bins=bins, alpha=0.7, label="wrong",
                color="tab:red")
        ax.set_title(f"{axis}: confidence of the top prediction")
        ax.set_xlabel("confidence")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_reports(cv: CrossValidation, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = intent_report(cv)
    (out_dir / "intent_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    (out_dir / "errors.json").write_text(json.dumps(errors(cv), ensure_ascii=False, indent=2))
    for axis in AXES:
        plot_confusion(cv, axis, out_dir / f"confusion_matrix_{axis}.png")
    plot_histogram(cv, out_dir / "histogram.png")
    return report


def summary(report: dict[str, Any]) -> dict[str, float]:
    return {axis: r["macro_f1"] for axis, r in report.items()}
