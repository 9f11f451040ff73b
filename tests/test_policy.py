"""The decision policy with test doubles: thresholds and ambiguity decide answer, clarify or hand off."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Engine
from bot.policy import AMBIGUITY_EXTRA, SEMANTIC_TOLERANCE, _sure
from bot.settings import Settings
from bot.store import Store
from knowledge_base.encoder import HashingEncoder
from knowledge_base.faq import load_entries
from knowledge_base.index import Hit, KnowledgeBase, SearchIndex
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


def engine(index: SearchIndex, rankings: Rankings, threshold: float, tmp_path: Path,
           suggest_threshold: float = 0.3) -> Engine:
    settings = Settings(data_dir=tmp_path, kb_answer_threshold=threshold, nlu_ambiguity_margin=0.1,
                        kb_suggest_threshold=suggest_threshold)
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    return Engine(store, Classifier(FixedBackend(rankings)), KnowledgeBase.from_index(index), settings)


def test_clear_topic_and_good_match_answers(index: SearchIndex, tmp_path: Path) -> None:
    best = index.search(QUESTION, k=1)[0].score
    decision = engine(index, CLEAR, best - 0.01, tmp_path).decide(QUESTION)
    assert decision.action == "answer" and not decision.ambiguous
    assert decision.contract()["suggestions"] == []


def test_two_close_topics_need_a_clearer_match(index: SearchIndex, tmp_path: Path) -> None:
    best = index.search(QUESTION, k=1)[0].score
    bot = engine(index, TORN, best - AMBIGUITY_EXTRA / 2, tmp_path)
    decision = bot.decide(QUESTION)
    assert decision.ambiguous and decision.action == "suggest"
    assert engine(index, TORN, best - AMBIGUITY_EXTRA * 2, tmp_path).decide(QUESTION).action == "answer"
    # Nothing near enough even to offer: only then is the citizen asked which area they mean.
    unsure = engine(index, TORN, 2.0, tmp_path, suggest_threshold=2.0).decide(QUESTION)
    assert unsure.action == "clarify" and unsure.reason == "ambiguous"


def test_unsure_offers_the_likely_questions(index: SearchIndex, tmp_path: Path) -> None:
    decision = engine(index, CLEAR, 2.0, tmp_path, suggest_threshold=0.0).decide(QUESTION)
    assert decision.action == "suggest" and decision.reason == "unsure"
    contract = decision.contract()
    assert contract["action"] == "suggest" and contract["answer"] is None and contract["faq_id"] is None
    offered = contract["suggestions"]
    assert 2 <= len(offered) <= 3 and len({s["faq_id"] for s in offered}) == len(offered)
    assert all(index.by_id[s["faq_id"]].question == s["question"] for s in offered)
    assert all(index.by_id[s["faq_id"]].lang == "zh" for s in offered)  # the citizen wrote Chinese


def test_english_question_is_offered_english_entries(index: SearchIndex, tmp_path: Path) -> None:
    decision = engine(index, CLEAR, 2.0, tmp_path, suggest_threshold=0.0).decide(
        "My landlord will not give my deposit back")
    assert decision.suggestions and all(h.entry.lang == "en" for h in decision.suggestions)


def test_nothing_near_goes_to_a_lawyer_unless_too_vague(index: SearchIndex, tmp_path: Path) -> None:
    bot = engine(index, CLEAR, 2.0, tmp_path, suggest_threshold=2.0)  # nothing can reach either threshold
    decision = bot.decide(QUESTION)
    assert decision.action == "handoff" and decision.reason == "no_entry"
    vague = bot.decide("我想问个事")
    assert vague.action == "clarify" and vague.reason == "vague"
    assert bot.decide("我想问个事", clarified=True).action == "handoff"


def test_a_direct_answer_needs_e5_to_agree(index: SearchIndex) -> None:
    first, second = index.entries[:2]
    agree = [Hit(first, 0.8, 0.8, 0.5, semantic=0.90), Hit(second, 0.5, 0.5, 0.3, semantic=0.90 + SEMANTIC_TOLERANCE / 2)]
    assert _sure(agree, 0.6)
    assert not _sure(agree, 0.9)  # below the threshold
    disagree = [Hit(first, 0.8, 0.8, 0.5, semantic=0.88), Hit(second, 0.5, 0.5, 0.3, semantic=0.90)]
    assert not _sure(disagree, 0.6)  # e5 reads the second one clearly closer: offer both instead
