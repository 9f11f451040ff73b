"""Learned urgency: is a citizen in danger now? Three answers, not two.

Rules (nlu/triage.py) catch the unmistakable phrasings and stay as a floor. This model reads the rest
with three kinds of features, so that it generalises beyond the phrases it was trained on:

- what the message means: the e5 sentence vector (nlu/semantic.py), which places "过了今晚就用不上了"
  near other farewells although no training example says it;
- what it says: character and word n-grams (TF-IDF), which carry dialect, typos and rare words;
- when and how: cues of time and resolution (去年, 已经, 早就 against 现在, 刚才, 今晚), hypotheticals,
  questions about the law, stories and negation, which separate "he is hitting me" from "he hit me
  last year, how do I divorce" although both share every danger word.

A logistic regression weighs them. Its probability is read against two thresholds, both chosen when
the model is trained from out-of-fold predictions on the training data (never on a test set):
``threshold`` where it is sure enough to raise the alarm (cross-validated precision target) and
``check_threshold`` below which it is sure enough to stay quiet (cross-validated recall target). In
between the bot asks the citizen a one-tap safety question instead of guessing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot import yamlio
from nlu.fast import FastTfidf
from nlu.text import normalize, words

NOT_URGENT = "not_urgent"
#: The kinds of danger the triage names (training_data/urgency.yml labels); replies and the lawyer's
#: packet use them. "learned" is a message the model found urgent without a kind it trusts.
KINDS = ("domestic_violence", "threat_to_life", "self_harm", "child_in_danger", "just_detained",
         "imminent_deadline", "wage_crowd", "eviction_today", "injury_now", "elder_abuse", "held_captive",
         "stalking", "extortion")
#: Kinds where someone's body or life is in danger now: among urgent chats these go to a lawyer first (a
#: deadline or a detention is urgent too, but nobody is being hurt while the chat waits).
BODILY = frozenset({"domestic_violence", "threat_to_life", "self_harm", "child_in_danger", "injury_now",
                    "elder_abuse", "held_captive", "stalking"})
#: Cross-validated precision the alarm threshold must reach: a false alarm pushes real emergencies
#: back in the queue and tells an ordinary citizen to call the police.
ALARM_PRECISION = 0.95
#: Cross-validated recall (with the rules) the safety-check threshold must reach: below it the bot is
#: quiet, so a miss there is a miss. 0.995 asked the safety question of 22 % of the training data's
#: not-urgent messages (out of fold); 0.99 asks 12 %, for half a point of recall.
CHECK_RECALL = 0.99
DEFAULT_THRESHOLD = 0.5
DEFAULT_CHECK_THRESHOLD = 0.2
#: How much the sentence vector weighs against the n-grams (each block is L2-normalised).
SEMANTIC_WEIGHT = 1.5
CUE_WEIGHT = 0.5

#: name -> pattern over normalised text. Counts, not decisions: the model learns what each is worth.
CUES: dict[str, str] = {
    "now": r"正在|现在|刚才|刚刚|马上|这会|今晚|今天|今早|此刻|还在|眼下|right now|\bnow\b|tonight|just now",
    "soon": r"明天|后天|这周|本周|周[一二三四五六日天]|礼拜|[一二三两\d]天(后|内)|tomorrow|this week",
    "past": r"去年|前年|以前|当时|早就|那时|曾经|多年前|几年前|上个?月|小时候|那年|后来|years? ago|last (year|month)",
    "resolved": r"已经(离婚|判|解决|处理|赔|结案|出院|康复|好了|分手|搬走|放出来)|判了|结案|和解|调解好|没事了|痊愈|出院了",
    "hypothetical": r"如果|假如|万一|假设|要是|假使|\bif\b|what if|suppose",
    "law_question": r"怎么认定|如何认定|算不算|是否属于|犯什么罪|判几年|怎么判|量刑|法律规定|哪条|标准是|怎么算|多少钱|赔多少|"
                    r"怎么起诉|流程|需要什么材料|合法吗|违法吗|is it legal|how (long|much)",
    "story": r"新闻|电视剧|电影|小说|剧里|听说|网上看|朋友圈|案例|短视频|movie|novel|news",
    "negation": r"(没有|没|不是|并没|并没有|不会|没再)(在)?(打|威胁|危险|受伤|动手|伤害)|not in danger|no longer",
    "help": r"救命|救救|帮帮|help|sos|🆘|怎么办|咋办|咋整|点算|肿么办",
    "hiding": r"躲在|藏在|偷偷|锁在|关在|不让(我)?(走|出|离开)|出不去|跑出来",
}
_CUES = [(name, re.compile(pattern)) for name, pattern in CUES.items()]


class UrgencyDataError(ValueError):
    pass


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs; label is an urgency kind or ``not_urgent``."""
    try:
        doc = yamlio.read(path) or {}
    except yaml.YAMLError as exc:
        raise UrgencyDataError(f"{path}: not valid YAML: {exc}") from exc
    pairs = []
    for block in doc.get("urgency") or []:
        label = str(block.get("label", ""))
        if label != NOT_URGENT and label not in KINDS:
            raise UrgencyDataError(f"{path}: unknown urgency label {label!r} (known: {', '.join(KINDS)})")
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- ") and line[2:].strip():
                pairs.append((line[2:].strip(), label))
    return pairs


def load_labelled_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a labelled set: ``text``, ``urgent`` and, where known, ``kind``."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"text": str(row["text"]), "urgent": bool(row["urgent"]),
                         "kind": row.get("kind") or row.get("reason")})
        except (ValueError, KeyError, TypeError) as exc:
            raise UrgencyDataError(f"{path}:{number}: not a labelled row: {exc}") from exc
    return rows


def cues(texts: Sequence[str]) -> csr_matrix:
    rows = [[1.0 if pattern.search(text) else 0.0 for _, pattern in _CUES] for text in texts]
    return csr_matrix(np.array(rows, dtype=np.float64).reshape(len(texts), len(_CUES)))


def _words(text: str) -> list[str]:
    return list(words(text))


@dataclass
class UrgencyModel:
    chars: TfidfVectorizer
    words: TfidfVectorizer
    binary: LogisticRegression
    reasons: LinearSVC | None
    semantic: bool
    threshold: float = DEFAULT_THRESHOLD
    check_threshold: float = DEFAULT_CHECK_THRESHOLD
    meta: dict[str, Any] = field(default_factory=dict)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # rebuilt on first use
        return state

    def features(self, texts: Sequence[str], vectors: np.ndarray | None, fast: bool = False) -> csr_matrix:
        """texts are normalised; vectors are their e5 vectors (required when the model is semantic).
        ``fast``: the n-grams through nlu/fast.py (same numbers, without scikit-learn's per-call checks)."""
        if fast:
            if "_fast" not in self.__dict__:
                self.__dict__["_fast"] = (FastTfidf(self.chars), FastTfidf(self.words))
            char_tfidf, word_tfidf = self.__dict__["_fast"]
        else:
            char_tfidf, word_tfidf = self.chars, self.words
        blocks = [char_tfidf.transform(texts), word_tfidf.transform(texts), cues(texts) * CUE_WEIGHT]
        if self.semantic:
            if vectors is None:
                raise ValueError("this urgency model needs sentence vectors")
            blocks.append(csr_matrix(vectors * SEMANTIC_WEIGHT))
        return hstack(blocks, format="csr")

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        x = self.features([normalize(t) for t in texts], vectors)
        return self.binary.predict_proba(x)[:, list(self.binary.classes_).index(True)]

    def score(self, text: str, vector: np.ndarray | None = None) -> tuple[float, str | None]:
        """Probability of danger, and the kind when the model would raise or check."""
        [result] = self.scores([normalize(text)], None if vector is None else vector.reshape(1, -1))
        return result

    def scores(self, texts: Sequence[str], vectors: np.ndarray | None) -> list[tuple[float, str | None]]:
        """:meth:`score` for many normalised texts."""
        if not texts:
            return []
        x = self.features(texts, vectors, fast=True)
        probabilities = self.binary.predict_proba(x)[:, list(self.binary.classes_).index(True)]
        kinds = self.reasons.predict(x) if self.reasons is not None else [None] * len(texts)
        return [(float(p), str(k) if k is not None and p >= self.check_threshold else None)
                for p, k in zip(probabilities, kinds, strict=True)]


def train(examples: Sequence[tuple[str, str]], vectors: np.ndarray | None, *, c: float = 4.0) -> UrgencyModel:
    """Fit on (text, label) pairs; ``vectors`` are the e5 vectors of the texts in order (or None)."""
    texts = [normalize(t) for t, _ in examples]
    urgent = np.array([label != NOT_URGENT for _, label in examples])
    if len(set(urgent.tolist())) < 2:
        raise UrgencyDataError("urgency data needs both urgent and not_urgent examples")
    model = UrgencyModel(
        chars=TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2),
        words=TfidfVectorizer(tokenizer=_words, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                              sublinear_tf=True, min_df=2),
        binary=LogisticRegression(C=c, class_weight="balanced", max_iter=2000),
        reasons=None, semantic=vectors is not None,
    )
    model.chars.fit(texts)
    model.words.fit(texts)
    x = model.features(texts, vectors)
    model.binary.fit(x, urgent)
    kinds = [label for _, label in examples if label != NOT_URGENT]
    if len(set(kinds)) >= 2:
        model.reasons = LinearSVC(C=0.5, class_weight="balanced").fit(x[urgent], kinds)
    return model


def out_of_fold(examples: Sequence[tuple[str, str]], vectors: np.ndarray | None, folds: int = 5,
                seed: int = 1) -> np.ndarray:
    """Each example's probability from a model that did not see it."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([label != NOT_URGENT for _, label in examples])
    probs = np.zeros(len(examples))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(labels, labels):
        model = train([examples[i] for i in train_idx], None if vectors is None else vectors[train_idx])
        probs[test_idx] = model.probabilities([examples[i][0] for i in test_idx],
                                              None if vectors is None else vectors[test_idx])
    return probs


def choose_thresholds(labels: np.ndarray, probs: np.ndarray, rules: np.ndarray,
                      precision: float = ALARM_PRECISION, recall: float = CHECK_RECALL) -> tuple[float, float]:
    """(alarm, check) thresholds from out-of-fold probabilities.

    alarm: the lowest threshold at which model-or-rules alarms are right ``precision`` of the time;
    check: the highest threshold at which model-or-rules, with checks, still find ``recall`` of the danger.
    """
    grid = np.round(np.arange(0.99, 0.01, -0.01), 2)
    alarm = 0.99
    for threshold in grid:  # falling: precision falls as more is raised
        raised = rules | (probs >= threshold)
        if raised.sum() and (raised & labels).sum() / raised.sum() >= precision:
            alarm = float(threshold)
        else:
            break
    check = 0.02
    for threshold in grid:
        found = rules | (probs >= threshold)
        if (found & labels).sum() / max(labels.sum(), 1) >= recall:
            check = float(threshold)
            break
    return alarm, min(check, alarm)
