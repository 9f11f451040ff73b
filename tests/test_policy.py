"""The decision policy with test doubles: thresholds and ambiguity decide answer, clarify or hand off."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.policy import AMBIGUITY_EXTRA
from bot.settings import Settings
from bot.store import Store
from knowledge_base.encoder import HashingEncoder
from knowledge_base.faq import load_entries
from knowledge_base.index import KnowledgeBase, SearchIndex
from nlu.backend import FixedBackend, Rankings
from nlu.classifier import Classifier

QUESTION = "房东不退押金怎么办"
CLEAR = Rankings(service=[("consultation", 0.9), ("legal_aid", 0.1)],
                 topic=[("property", 0.9), ("contract", 0.1)], act=[("question", 1.0)])
TORN = Rankings(service=[("consultation", 0.9), ("legal_aid", 0.1)],
                topic=[("property", 0.45), ("contract", 0.44)], act=[("question", 1.0)])


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(load_entries(Settings().faq_dir), HashingEncoder())


def engine(index: SearchIndex, rankings: Rankings, threshold: float, tmp_path: Path) -> Engine:
    settings = Settings(data_dir=tmp_path, kb_answer_threshold=threshold, nlu_ambiguity_margin=0.1)
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    return Engine(store, Classifier(FixedBackend(rankings)), KnowledgeBase.from_index(index), settings)


def test_clear_topic_and_good_match_answers(index: SearchIndex, tmp_path: Path) -> None:
    best = index.search(QUESTION, k=1)[0].score
    decision = engine(index, CLEAR, best - 0.01, tmp_path).decide(QUESTION)
    assert decision.action == "answer" and not decision.ambiguous


def test_two_close_topics_need_a_clearer_match(index: SearchIndex, tmp_path: Path) -> None:
    best = index.search(QUESTION, k=1)[0].score
    bot = engine(index, TORN, best - AMBIGUITY_EXTRA / 2, tmp_path)
    decision = bot.decide(QUESTION)
    assert decision.ambiguous and decision.action == "clarify" and decision.reason == "ambiguous"
    assert engine(index, TORN, best - AMBIGUITY_EXTRA * 2, tmp_path).decide(QUESTION).action == "answer"


def test_after_clarifying_an_unclear_question_goes_to_a_lawyer(index: SearchIndex, tmp_path: Path) -> None:
    bot = engine(index, CLEAR, 2.0, tmp_path)  # nothing can reach the threshold
    assert bot.decide(QUESTION).action == "clarify"
    assert bot.decide(QUESTION, clarified=True).action == "handoff"
