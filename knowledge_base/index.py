"""Build, store and search the knowledge base index: dense FAISS fused with BM25, topic as a prior.

An index is a versioned folder under ``var/index/`` (entries, vectors, encoder, metadata); the file
``CURRENT`` names the one in service and a running server swaps to a new one on its next search.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.taxonomy import Topic
from knowledge_base.encoder import Encoder, SentenceTransformerEncoder, train_static_encoder
from knowledge_base.faq import Entry, parse_entry
from knowledge_base.lexical import BM25
from knowledge_base.vectors import VectorIndex

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
DENSE_WEIGHT = 0.5
TOPIC_PRIOR = 0.05
#: Views fetched from an approximate (IVF) index before fusion.
CANDIDATES = 256


class IndexUnavailable(RuntimeError):
    """No index has been built yet."""


@dataclass
class Hit:
    entry: Entry
    score: float
    dense: float
    lexical: float

    def as_dict(self) -> dict[str, Any]:
        return {"faq_id": self.entry.id, "score": round(self.score, 4),
                "dense": round(self.dense, 4), "lexical": round(self.lexical, 4)}


class SearchIndex:
    """Entries, their views (question and paraphrases), one vector per view, and BM25 over views."""

    def __init__(self, entries: Sequence[Entry], encoder: Encoder, vectors: np.ndarray | None = None,
                 version: str = "memory") -> None:
        self.entries = list(entries)
        self.encoder = encoder
        self.version = version
        self.view_texts: list[str] = []
        view_entry: list[int] = []
        for i, e in enumerate(self.entries):
            for text in e.texts:
                self.view_texts.append(text)
                view_entry.append(i)
        self.view_entry = np.array(view_entry, dtype=np.int64)
        if vectors is None:
            vectors = encoder.encode(self.view_texts)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dense = VectorIndex.build(self.vectors)
        self.bm25 = BM25(self.view_texts)
        self.by_id = {e.id: e for e in self.entries}

    def _per_entry(self, view_scores: np.ndarray) -> np.ndarray:
        best = np.full(len(self.entries), -1.0, dtype=np.float32)
        np.maximum.at(best, self.view_entry, view_scores)
        return best

    def scores(self, query: str, topic: Topic | None = None, mode: str = "fused") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-entry (fused, dense, lexical) scores."""
        n_views = len(self.view_texts)
        dense_views = np.zeros(n_views, dtype=np.float32)
        if mode in ("fused", "dense"):
            qv = self.encoder.encode([query])
            # Exact below the IVF threshold (every view scored); above it, the nearest candidates only.
            k = n_views if self.dense.exact else CANDIDATES
            sims, idx = self.dense.search(qv, k)
            found = idx[0] >= 0
            dense_views[idx[0][found]] = sims[0][found]
        lexical_views = self.bm25.scores(query) if mode in ("fused", "lexical") else np.zeros(n_views, np.float32)
        dense = self._per_entry(dense_views)
        lexical = self._per_entry(lexical_views)
        if mode == "dense":
            fused = dense.copy()
        elif mode == "lexical":
            fused = lexical.copy()
        else:
            fused = DENSE_WEIGHT * np.clip(dense, 0, 1) + (1 - DENSE_WEIGHT) * lexical
        if topic is not None:
            fused = fused + TOPIC_PRIOR * np.array([e.topic == topic for e in self.entries], dtype=np.float32)
        return fused, dense, lexical

    def search(self, query: str, topic: Topic | None = None, k: int = 5, mode: str = "fused") -> list[Hit]:
        fused, dense, lexical = self.scores(query, topic, mode)
        order = np.argsort(-fused)[:k]
        return [Hit(self.entries[i], float(fused[i]), float(dense[i]), float(lexical[i])) for i in order]


def _fingerprint(entries: Sequence[Entry]) -> str:
    payload = json.dumps([e.public() for e in entries], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build(entries: Sequence[Entry], index_dir: Path, encoder_model: str = "", progress: bool = False,
          vocabulary_texts: Sequence[str] = (), promote: bool = True) -> Path:
    """Train (or load) the encoder, embed every view, and write a new index version."""
    started = time.perf_counter()
    fingerprint = _fingerprint(entries)
    version = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + fingerprint[:8]
    target = index_dir / version
    target.mkdir(parents=True, exist_ok=True)
    if encoder_model:
        encoder: Encoder = SentenceTransformerEncoder(encoder_model)
        encoder_ref = encoder_model
    else:
        train_static_encoder([e.texts for e in entries], target / "encoder",
                             vocabulary_texts=vocabulary_texts, progress=progress)
        encoder = SentenceTransformerEncoder(target / "encoder")
        encoder_ref = "encoder"
    index = SearchIndex(entries, encoder, version=version)
    index.dense.write(str(target / "vectors.faiss"))
    (target / "entries.json").write_text(
        json.dumps([e.public() for e in entries], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    meta = {"version": version, "entries": len(entries), "views": len(index.view_texts),
            "encoder": encoder_ref, "dim": encoder.dim, "fingerprint": fingerprint,
            "build_seconds": round(time.perf_counter() - started, 3)}
    (target / "meta.json").write_text(json.dumps(meta, indent=2))
    if promote:
        tmp = index_dir / (CURRENT + ".tmp")
        tmp.write_text(version)
        tmp.replace(index_dir / CURRENT)
    return target


def load(path: Path) -> SearchIndex:
    meta = json.loads((path / "meta.json").read_text())
    raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
    entries = [parse_entry(r, "entries.json") for r in raw]
    ref = meta["encoder"]
    encoder = SentenceTransformerEncoder(path / ref if ref == "encoder" else ref)
    vectors = VectorIndex.read(str(path / "vectors.faiss")).reconstruct_all()
    return SearchIndex(entries, encoder, vectors=vectors, version=meta["version"])


def current_path(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    return index_dir / pointer.read_text().strip()


class KnowledgeBase:
    """The index in service; swaps to a newly promoted version without a restart."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._index: SearchIndex | None = None

    @classmethod
    def from_index(cls, index: SearchIndex) -> KnowledgeBase:
        kb = cls(Path("/nonexistent"))
        kb._index = index
        return kb

    @property
    def index(self) -> SearchIndex:
        path = current_path(self.index_dir)
        if path is None:
            if self._index is not None:
                return self._index
            raise IndexUnavailable(f"no knowledge base index under {self.index_dir}: run `legalbot kb build`")
        if self._index is None or self._index.version != path.name:
            self._index = load(path)
            log.info("loaded knowledge base index %s", path.name)
        return self._index

    def search(self, query: str, topic: Topic | None = None, k: int = 5) -> list[Hit]:
        return self.index.search(query, topic=topic, k=k)

    def get(self, faq_id: str) -> Entry | None:
        return self.index.by_id.get(faq_id)
