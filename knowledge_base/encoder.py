"""Dense encoders for retrieval.

The default is the project's own Chinese encoder: a sentence-transformers ``StaticEmbedding`` over a
word-level vocabulary of jieba words and single characters, trained on the knowledge base's own
question/paraphrase pairs. It needs no download, trains in seconds on a CPU and is saved in the
standard sentence-transformers format. A deployment can point ``LEGALBOT_ENCODER_MODEL`` at any other
sentence-transformers model name or path instead.
"""

from __future__ import annotations

import json
import logging
import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlu.text import tokens

log = logging.getLogger(__name__)

SEGMENTED_MARKER = "legalbot_segmented.json"
PAD, UNK = "[PAD]", "[UNK]"


def segment(text: str) -> str:
    """What the project's encoder reads: jieba words and single characters, space separated."""
    return " ".join(tokens(text))


class Encoder(ABC):
    dim: int

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model; pre-segments text when the model was built by this project."""

    def __init__(self, model_name_or_path: str | Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.path = str(model_name_or_path)
        self.segmented = (Path(self.path) / SEGMENTED_MARKER).exists()
        self.model = SentenceTransformer(self.path, device="cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        inputs = [segment(t) for t in texts] if self.segmented else list(texts)
        vectors = self.model.encode(
            inputs, batch_size=256, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEncoder(Encoder):
    """Test double: deterministic bag-of-tokens vectors, no training, no torch."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokens(text):
                out[i, hash(tok) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def build_vocabulary(texts: Sequence[str], min_count: int = 1) -> dict[str, int]:
    counts = Counter(tok for text in texts for tok in tokens(text))
    vocab = {PAD: 0, UNK: 1}
    for tok, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_count and tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab


def train_static_encoder(
    groups: Sequence[Sequence[str]],
    out_dir: Path,
    vocabulary_texts: Sequence[str] = (),
    dim: int = 256,
    rounds: int = 60,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 13,
    progress: bool = False,
) -> Path:
    """Train a StaticEmbedding so texts of the same group (an FAQ's question and paraphrases) meet.

    Each step takes one random pair from each of ``batch_size`` different groups and applies the
    multiple-negatives ranking loss (in-batch negatives), symmetric in both directions.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from tqdm import tqdm

    usable = [list(g) for g in groups if len(g) >= 2]
    if len(usable) < 2:
        raise ValueError("the encoder needs at least two groups of two texts to train")
    random.seed(seed)
    torch.manual_seed(seed)

    all_texts = [t for g in usable for t in g] + list(vocabulary_texts)
    tokenizer = Tokenizer(WordLevel(build_vocabulary(all_texts), unk_token=UNK))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    module = StaticEmbedding(tokenizer, embedding_dim=dim)
    with torch.no_grad():
        module.embedding.weight.normal_(0.0, 0.1)
    model = SentenceTransformer(modules=[module], device="cpu")
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6

    segmented = {t: segment(t) for g in usable for t in g}  # once, not at every round (jieba is the slow part)

    def embed(texts: list[str]) -> torch.Tensor:
        features = prepare([segmented[t] for t in texts])
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    order = list(range(len(usable)))
    for _ in tqdm(range(rounds), desc="training encoder", unit="round", disable=not progress):
        random.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [random.sample(usable[i], 2) for i in order[start : start + batch_size]]
            if len(batch) < 2:
                continue
            left = embed([a for a, _ in batch])
            right = embed([b for _, b in batch])
            scores = left @ right.T * 20.0
            labels = torch.arange(len(batch))
            loss = (
                torch.nn.functional.cross_entropy(scores, labels)
                + torch.nn.functional.cross_entropy(scores.T, labels)
            ) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    (out_dir / SEGMENTED_MARKER).write_text(
        json.dumps({"input": "jieba words and single characters, space separated", "dim": dim})
    )
    return out_dir
