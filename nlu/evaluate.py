"""Held-out evaluation of the built-in NLU on the maintainers' own training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from nlu import builtin
from nlu.data import load_training_data


def holdout_report(directory: Path, test_size: float = 0.2, seed: int = 7) -> dict[str, Any]:
    examples = load_training_data(directory)
    intents = [ex.intent for ex in examples]
    train, test = train_test_split(examples, test_size=test_size, random_state=seed, stratify=intents)
    model = builtin.train(train)
    data = builtin.axis_datasets(test)
    axes: dict[str, Any] = {}
    for axis, (texts, labels) in data.items():
        if not texts:
            continue
        predicted = [model.rank(text_).__getattribute__(axis)[0][0] for text_ in texts]
        axes[axis] = {
            "n": len(texts),
            "accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        }
    return {"train_examples": len(train), "test_examples": len(test), "axes": axes}
