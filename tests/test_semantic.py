"""The offline e5 encoder: vectors, the two sides, and caches that never serve a wrong vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlu import semantic


@pytest.fixture
def encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> semantic.Encoder:
    monkeypatch.setenv("LEGALBOT_CACHE_DIR", str(tmp_path))
    return semantic.Encoder()


def test_vectors_are_normalised_and_read_meaning(encoder: semantic.Encoder) -> None:
    beaten, hit, wages = (encoder.query(t) for t in ("老公在打我", "丈夫正在殴打我", "公司拖欠工资"))
    assert beaten.shape == (semantic.DIM,) and abs(float(np.linalg.norm(beaten)) - 1) < 1e-3
    assert float(beaten @ hit) > float(beaten @ wages)


def test_many_texts_match_one_at_a_time_and_are_cached_on_disk(encoder: semantic.Encoder, tmp_path: Path) -> None:
    texts = ["老公在打我", "公司拖欠工资", "老公在打我"]
    many = encoder.queries(texts)
    assert many.shape == (3, semantic.DIM)
    assert np.allclose(many[0], encoder.query("老公在打我"), atol=1e-5) and np.allclose(many[0], many[2])
    assert (tmp_path / "e5-query.npz").exists()
    again = semantic.Encoder().queries(texts)  # a new process reads the cache
    assert np.allclose(again, many)


def test_passages_are_the_other_side(encoder: semantic.Encoder, tmp_path: Path) -> None:
    passage = encoder.passages(["劳动合同法第四十七条规定经济补偿按工作年限计算"])
    query = encoder.queries(["劳动合同法第四十七条规定经济补偿按工作年限计算"])
    assert not np.allclose(passage, query)  # e5 distinguishes "query:" and "passage:"
    assert (tmp_path / "e5-passage.npz").exists()


def test_a_damaged_cache_is_rebuilt_not_trusted(encoder: semantic.Encoder, tmp_path: Path) -> None:
    (tmp_path / "e5-query.npz").write_bytes(b"not a numpy file")
    vector = encoder.queries(["公司拖欠工资"])
    assert np.allclose(vector[0], encoder.query("公司拖欠工资"), atol=1e-5)
