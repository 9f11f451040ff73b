"""The fast inference path gives exactly scikit-learn's probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlu import builtin
from nlu.fast import FastCalibrated, FastTfidf
from nlu.text import normalize

TEXTS = ["老板拖欠工资三个月了", "我想离婚，孩子归谁", "借钱不还", "hello my boss not pay", "", "😀", "你好",
         "房东今天把锁换了，东西全扔出来了"]


def test_fast_paths_match_sklearn(built_dir: Path) -> None:
    model = builtin.load(builtin.current_path(built_dir / "models" / "nlu"))  # type: ignore[arg-type]
    texts = [normalize(t) for t in TEXTS]
    for pipe in model.pipelines.values():
        fast = FastCalibrated(pipe)
        assert isinstance(fast.features, FastTfidf)
        assert np.allclose(fast.predict_proba(texts), pipe.predict_proba(texts), atol=1e-12)
        vectorizer = pipe.steps[0][1]
        assert np.allclose(fast.features.transform(texts).toarray(), vectorizer.transform(texts).toarray())
    urgency = model.urgency
    assert urgency is not None
    vectors = np.random.default_rng(1).normal(size=(len(texts), 384)) if urgency.semantic else None
    fast = urgency.features(texts, vectors, fast=True).toarray()
    assert np.allclose(fast, urgency.features(texts, vectors).toarray(), atol=1e-12)
