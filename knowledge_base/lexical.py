"""BM25 over jieba words and single characters, with a score normalised to [0, 1].

The normalised score divides a document's BM25 by the query's own best attainable score (the
query matched against itself), so one threshold means the same for short and long questions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix

from nlu.text import tokens


class BM25:
    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75,
                 tokenized: Sequence[Sequence[str]] | None = None) -> None:
        """``tokenized``: the documents' :func:`nlu.text.tokens`, when already known (a stored index)."""
        self.k1, self.b = k1, b
        if tokenized is None or len(tokenized) != len(documents):
            tokenized = [tokens(d) for d in documents]
        self.tokenized = [list(t) for t in tokenized]
        docs = [Counter(t) for t in self.tokenized]
        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.array([sum(c.values()) for c in docs], dtype=np.float32)
        self.avg_len = float(lengths.mean()) if len(docs) else 1.0
        df: Counter[str] = Counter()
        for c in docs:
            df.update(c.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        for i, c in enumerate(docs):
            norm = k1 * (1 - b + b * lengths[i] / max(self.avg_len, 1e-9))
            for tok, tf in c.items():
                j = self.vocab.setdefault(tok, len(self.vocab))
                rows.append(i)
                cols.append(j)
                vals.append(self.idf[tok] * tf * (k1 + 1) / (tf + norm))
        self.matrix = csr_matrix((vals, (rows, cols)), shape=(n, max(len(self.vocab), 1)), dtype=np.float32)
        self.matrix_csc = self.matrix.tocsc()

    def scores(self, query: str) -> np.ndarray:
        """Normalised BM25 of the query against every document, in [0, 1]."""
        q = Counter(tokens(query))
        cols = [self.vocab[t] for t in q if t in self.vocab]
        if not cols:
            return np.zeros(self.matrix.shape[0], dtype=np.float32)
        raw = np.asarray(self.matrix_csc[:, cols].sum(axis=1)).ravel()
        return np.minimum(raw / self.self_score(q), 1.0).astype(np.float32)

    def self_score(self, q: Counter[str]) -> float:
        """BM25 of the query against a document made of itself: the best it could score."""
        length = sum(q.values())
        norm = self.k1 * (1 - self.b + self.b * length / max(self.avg_len, 1e-9))
        # Unknown words get the highest idf in the corpus: a word nobody wrote about lowers the match.
        top_idf = max(self.idf.values(), default=1.0)
        total = sum(self.idf.get(t, top_idf) * tf * (self.k1 + 1) / (tf + norm) for t, tf in q.items())
        return max(total, 1e-9)
