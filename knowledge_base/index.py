"""Build, store and search the knowledge base index: dense FAISS fused with BM25, topic as a prior,
and, where the pretrained e5 encoder is available, its vector of every entry's question and answer:
then the three rankings (lexical, the project's dense, e5) are standardised per query and added,
which on real citizens' questions ranks the right entry higher than any of them alone.

An index is a versioned folder under ``var/index/`` (entries, vectors, encoder, metadata); the file
``CURRENT`` names the one in service and a running server swaps to a new one on its next search.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
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
#: With e5: how much each lexical ranking (over questions and paraphrases; over whole answers) counts
#: beside the two dense ones (standardised scores).
LEXICAL_WEIGHT = 0.5
#: An answer as e5 reads it: the question and the start of the answer.
PASSAGE_ANSWER_CHARS = 300


class IndexUnavailable(RuntimeError):
    """No index has been built yet."""


@dataclass
class Hit:
    entry: Entry
    #: The fused dense+lexical score (with the topic prior): what the answer thresholds compare.
    score: float
    dense: float
    lexical: float
    #: e5's cosine with the entry's question and answer; 0 without e5.
    semantic: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"faq_id": self.entry.id, "score": round(self.score, 4),
                "dense": round(self.dense, 4), "lexical": round(self.lexical, 4),
                "semantic": round(self.semantic, 4)}


def answer_texts(entries: Sequence[Entry]) -> list[str]:
    """What the second lexical ranking reads: each entry's question and whole answer. A citizen's story
    names facts (a deposit, a pension account, a frozen card) that an answer mentions although its
    question does not: on the judged real questions this ranking beside the others put the right entry
    in the top 3 for 3 points more, and left the team's own queries where they were."""
    return [f"{e.question}\n{e.answer}" for e in entries]


def passage_texts(entries: Sequence[Entry]) -> list[str]:
    """What e5 reads of the knowledge base: each entry's question with the start of its answer.

    (e5 vectors of every paraphrase as well were measured: 0.4 points more right entries in the top 3
    of real questions, for seven times the passages to encode and keep.)"""
    return [f"{e.question}\n{e.answer[:PASSAGE_ANSWER_CHARS]}" for e in entries]


def encode_passages(entries: Sequence[Entry]) -> np.ndarray | None:
    """e5 vectors of :func:`passage_texts`, or None where the encoder cannot load (then lexical+dense only)."""
    from nlu import semantic
    try:
        return semantic.shared().passages(passage_texts(entries))
    except semantic.EncoderUnavailable as exc:
        log.warning("knowledge base index without e5 vectors: %s", exc)
        return None


class SearchIndex:
    """Entries, their views (question and paraphrases), one vector per view, and BM25 over views."""

    def __init__(self, entries: Sequence[Entry], encoder: Encoder, vectors: np.ndarray | None = None,
                 version: str = "memory", passages: np.ndarray | None = None,
                 view_tokens: Sequence[Sequence[str]] | None = None,
                 answer_tokens: Sequence[Sequence[str]] | None = None) -> None:
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
        self.bm25 = BM25(self.view_texts, tokenized=view_tokens)
        self.answers_bm25 = BM25(answer_texts(self.entries), tokenized=answer_tokens)
        self.by_id = {e.id: e for e in self.entries}
        self.topics = np.array([e.topic.value for e in self.entries])
        self.langs = np.array([e.lang for e in self.entries])
        expected = len(self.entries)
        if passages is not None and len(passages) != expected:
            log.warning("ignoring e5 vectors for %d passages; the index has %d entries", len(passages), expected)
            passages = None
        self.passages = None if passages is None else np.ascontiguousarray(passages, dtype=np.float32)

    def related(self, entry_id: str, k: int = 3) -> list[Entry]:
        """Entries close to one entry (its answer as e5 reads it, else its question), same language, for
        "related questions" after an answer."""
        i = next((n for n, e in enumerate(self.entries) if e.id == entry_id), None)
        if i is None:
            return []
        if self.passages is not None:
            sims = self.passages @ self.passages[i]
        else:
            first_view = np.searchsorted(self.view_entry, np.arange(len(self.entries)))
            questions = self.vectors[first_view]
            sims = questions @ questions[i]
        sims = np.where(self.langs == self.entries[i].lang, sims, -np.inf)
        sims[i] = -np.inf
        return [self.entries[j] for j in np.argsort(-sims, kind="stable")[:k] if np.isfinite(sims[j])]

    def semantic_scores(self, query: str) -> np.ndarray | None:
        """Per-entry e5 cosine of the query with the entry's question and answer, or None without e5."""
        if self.passages is None:
            return None
        from nlu import semantic
        from nlu.text import normalize
        try:
            vector = semantic.shared().query(normalize(query))
        except semantic.EncoderUnavailable:
            return None
        return self.passages @ vector

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
            fused = fused + TOPIC_PRIOR * (self.topics == topic.value).astype(np.float32)
        return fused, dense, lexical

    def search(self, query: str, topic: Topic | None = None, k: int = 5, mode: str = "fused",
               lang: str | None = None) -> list[Hit]:
        """The best ``k`` entries; with ``lang``, only entries in that language (none if it has none)."""
        fused, dense, lexical = self.scores(query, topic, mode)
        semantic = self.semantic_scores(query) if mode == "fused" else None
        allowed = self.langs == lang if lang is not None else np.ones(len(self.entries), dtype=bool)
        if semantic is None:
            order_by = fused
            semantic = np.zeros(len(self.entries), dtype=np.float32)
        else:
            # Each ranker's scores standardised over the entries that may answer, then added: the
            # lexical ones count half (they read words, and the dense ones read them too).
            answers = self.answers_bm25.scores(query)
            order_by = LEXICAL_WEIGHT * (_standard(lexical, allowed) + _standard(answers, allowed)) + \
                _standard(dense, allowed) + _standard(semantic, allowed)
            if topic is not None:  # an area the citizen chose: its entries first
                order_by = np.where(self.topics == topic.value, order_by + 1e6, order_by)
        order = np.argsort(-order_by, kind="stable")
        order = order[allowed[order]][:k]
        return [Hit(self.entries[i], float(fused[i]), float(dense[i]), float(lexical[i]), float(semantic[i]))
                for i in order]


def _standard(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Scores in standard deviations from their mean over the allowed entries."""
    values = scores[allowed] if allowed.any() else scores
    return (scores - values.mean()) / (values.std() + 1e-9)


def _fingerprint(entries: Sequence[Entry]) -> str:
    payload = json.dumps([e.public() for e in entries], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build(entries: Sequence[Entry], index_dir: Path, encoder_model: str = "", progress: bool = False,
          vocabulary_texts: Sequence[str] = (), promote: bool = True, semantic: bool = True) -> Path:
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
    passages = encode_passages(entries) if semantic else None
    index = SearchIndex(entries, encoder, version=version, passages=passages)
    index.dense.write(str(target / "vectors.faiss"))
    if passages is not None:
        np.save(target / "passages.npy", passages.astype(np.float16))
    # Segmenting every view with jieba takes seconds; a stored index keeps the result.
    tokenized = {"views": index.bm25.tokenized, "answers": index.answers_bm25.tokenized}
    (target / "tokens.json").write_text(json.dumps(tokenized, ensure_ascii=False), encoding="utf-8")
    (target / "entries.json").write_text(
        json.dumps([e.public() for e in entries], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    meta = {"version": version, "entries": len(entries), "views": len(index.view_texts),
            "encoder": encoder_ref, "dim": encoder.dim, "fingerprint": fingerprint,
            "semantic": passages is not None,
            "build_seconds": round(time.perf_counter() - started, 3)}
    (target / "meta.json").write_text(json.dumps(meta, indent=2))
    if promote:
        tmp = index_dir / (CURRENT + ".tmp")
        tmp.write_text(version)
        tmp.replace(index_dir / CURRENT)
    return target


_loaded: dict[Path, SearchIndex] = {}
_loaded_lock = threading.Lock()
#: Index versions kept loaded per process (a version folder never changes once written).
LOADED_VERSIONS = 2


def load(path: Path) -> SearchIndex:
    """The index stored in one version folder, loaded once per process."""
    key = path.resolve()
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        index = _read(path)
        while len(_loaded) >= LOADED_VERSIONS:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = index
        return index


def _read(path: Path) -> SearchIndex:
    meta = json.loads((path / "meta.json").read_text())
    raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
    entries = [parse_entry(r, "entries.json") for r in raw]
    ref = meta["encoder"]
    encoder = SentenceTransformerEncoder(path / ref if ref == "encoder" else ref)
    vectors = VectorIndex.read(str(path / "vectors.faiss")).reconstruct_all()
    passages = np.load(path / "passages.npy") if (path / "passages.npy").exists() else None
    tokens_file = path / "tokens.json"
    tokenized = json.loads(tokens_file.read_text(encoding="utf-8")) if tokens_file.exists() else {}
    if isinstance(tokenized, list):  # an index built before answers were searched: views only
        tokenized = {"views": tokenized}
    return SearchIndex(entries, encoder, vectors=vectors, version=meta["version"], passages=passages,
                       view_tokens=tokenized.get("views"), answer_tokens=tokenized.get("answers"))


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

    def search(self, query: str, topic: Topic | None = None, k: int = 5, lang: str | None = None) -> list[Hit]:
        return self.index.search(query, topic=topic, k=k, lang=lang)

    def get(self, faq_id: str) -> Entry | None:
        return self.index.by_id.get(faq_id)

    def related(self, faq_id: str, k: int = 3) -> list[Entry]:
        return self.index.related(faq_id, k)
