"""The dense half of retrieval: an exact FAISS index for a city's FAQ, IVF above a size threshold.

An exact inner-product search over a few thousand vectors takes microseconds. Above
``IVF_THRESHOLD`` vectors (a national knowledge base, or synthetic benchmarks) an inverted-file
index keeps search time flat: vectors are grouped around ``nlist`` centroids learnt by k-means and a
query only scans the ``nprobe`` nearest groups.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

IVF_THRESHOLD = 50_000
TRAINING_SAMPLE = 100_000


class VectorIndex:
    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def exact(self) -> bool:
        return not isinstance(self.index, faiss.IndexIVF)

    @classmethod
    def build(cls, vectors: np.ndarray, nprobe: int = 16, seed: int = 13) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        if n <= IVF_THRESHOLD:
            index: faiss.Index = faiss.IndexFlatIP(dim)
            index.add(vectors)
            return cls(index)
        nlist = int(4 * math.sqrt(n))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(n, size=min(n, TRAINING_SAMPLE), replace=False)]
        ivf.train(sample)
        for start in range(0, n, 100_000):
            ivf.add(vectors[start : start + 100_000])
        ivf.nprobe = nprobe
        return cls(ivf)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def reconstruct_all(self) -> np.ndarray:
        if self.exact:
            return self.index.reconstruct_n(0, self.size)
        invlists = faiss.extract_index_ivf(self.index)
        invlists.make_direct_map()
        return invlists.reconstruct_n(0, self.size)

    def write(self, path: str) -> None:
        faiss.write_index(self.index, path)

    @classmethod
    def read(cls, path: str, nprobe: int = 16) -> VectorIndex:
        index = faiss.read_index(path)
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = nprobe
        return cls(index)
