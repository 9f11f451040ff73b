"""Knowledge base: content validation, retrieval and index hot swap."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from bot.settings import Settings
from bot.taxonomy import Topic
from knowledge_base import index as kb_index
from knowledge_base.encoder import HashingEncoder
from knowledge_base.faq import Citation, FAQError, load_entries, load_file
from knowledge_base.index import KnowledgeBase, SearchIndex
from knowledge_base.validate import default_statutes_dir, validate

FAQ = Settings().faq_dir
TODAY = dt.date(2026, 12, 3)


@pytest.fixture(scope="module")
def entries():  # type: ignore[no-untyped-def]
    return load_entries(FAQ)


def test_content_is_valid(entries) -> None:  # type: ignore[no-untyped-def]
    statutes = default_statutes_dir()
    report = validate(entries, statutes if statutes.is_dir() else None, today=TODAY)
    assert report.errors == []
    assert len({e.service for e in entries}) == 11
    assert all(len(e.paraphrases) >= 4 for e in entries)


def test_repealed_laws_and_missing_articles_are_rejected(entries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    entry = entries[0]
    entry_bad = type(entry)(**{**entry.__dict__, "legal_basis": [Citation("合同法", 107), Citation("劳动合同法", 999)],
                               "last_reviewed": dt.date(2024, 1, 1)})
    statutes = tmp_path / "statutes"
    statutes.mkdir()
    (statutes / "劳动合同法.md").write_text("# 劳动合同法\n\n第一条 立法目的。\n\n第三十条 按时足额支付。\n")
    report = validate([entry_bad], statutes, today=TODAY)
    assert any("合同法" in e and "repealed" in e for e in report.errors)
    assert any("no article 999" in e for e in report.errors)
    assert any("12 months" in w for w in report.warnings)


def test_validation_skips_article_check_without_statutes(entries) -> None:  # type: ignore[no-untyped-def]
    report = validate(entries[:3], None, today=TODAY)
    assert not report.statutes_checked and report.errors == []


def test_bad_faq_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("- id: a\n  service: astrology\n  topic: labor\n")
    with pytest.raises(FAQError, match="missing"):
        load_file(path)
    path.write_text("- id: a\n  service: astrology\n  topic: labor\n  question: q\n  paraphrases: [a]\n"
                    "  answer: x\n  legal_basis: []\n  next_step: y\n  last_reviewed: 2026-01-01\n")
    with pytest.raises(FAQError, match="unknown service"):
        load_file(path)


def test_search_ranks_the_right_entry_and_uses_the_topic_prior(built_dir: Path) -> None:
    kb = KnowledgeBase(built_dir / "index")
    hits = kb.search("公司拖了我两个月工资不给")
    assert hits[0].entry.topic is Topic.labor
    assert hits[0].score > 0.5
    plain = kb.index.scores("押金", None)[0]
    with_prior = kb.index.scores("押金", Topic.property)[0]
    assert (with_prior - plain).max() == pytest.approx(kb_index.TOPIC_PRIOR, abs=1e-5)


def test_out_of_scope_scores_low(built_dir: Path) -> None:
    kb = KnowledgeBase(built_dir / "index")
    assert kb.search("红烧肉怎么做才好吃")[0].score < Settings().kb_answer_threshold


def test_new_index_version_is_picked_up_without_restart(entries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kb = KnowledgeBase(tmp_path)
    with pytest.raises(kb_index.IndexUnavailable):
        kb.search("工资")
    first = kb_index.build(entries[:20], tmp_path)
    assert kb.index.version == first.name and len(kb.index.entries) == 20
    second = kb_index.build(entries[:30], tmp_path)
    assert kb.index.version == second.name and len(kb.index.entries) == 30


def test_e5_vectors_are_built_stored_and_added_standardised(built_dir: Path) -> None:
    index = KnowledgeBase(built_dir / "index").index
    assert index.passages is not None and len(index.passages) == len(index.entries)
    query = "公司拖了我两个月工资不给"
    fused, dense, lexical = index.scores(query)
    semantic = index.semantic_scores(query)
    assert semantic is not None
    zh = index.langs == "zh"
    answers = index.answers_bm25.scores(query)
    total = sum(w * kb_index._standard(s, zh) for w, s in
                ((kb_index.LEXICAL_WEIGHT, lexical), (kb_index.LEXICAL_WEIGHT, answers), (1.0, dense),
                 (1.0, semantic)))
    hits = index.search(query, k=5, lang="zh")
    expected = [i for i in np.argsort(-total, kind="stable") if zh[i]][:5]
    assert [h.entry.id for h in hits] == [index.entries[i].id for i in expected]
    assert all(0 < h.semantic <= 1 for h in hits) and hits[0].entry.topic is Topic.labor
    plain_hits = index.search("押金不退", k=5, lang="zh")
    chosen = index.search("押金不退", topic=Topic.contract, k=5, lang="zh")  # an area the citizen picked lifts it
    assert sum(h.entry.topic is Topic.contract for h in chosen) > sum(h.entry.topic is Topic.contract for h in plain_hits)
    # Without e5 vectors the fused score alone orders the entries.
    plain = SearchIndex(index.entries, index.encoder, vectors=index.vectors)
    assert [h.entry.id for h in plain.search(query, k=5)] == [index.entries[i].id for i in np.argsort(-fused)[:5]]


def test_a_stored_index_is_read_once_per_process_with_its_segmented_views(entries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = kb_index.build(entries[:25], tmp_path)
    assert (path / "tokens.json").exists()
    first, again = kb_index.load(path), kb_index.load(path)
    assert first is again
    fresh = kb_index._read(path)  # read from disk: the stored segmentation gives the same lexical ranking
    assert fresh.bm25.tokenized == first.bm25.tokenized
    assert fresh.answers_bm25.tokenized == first.answers_bm25.tokenized
    # An index stored before answers were searched (its views' segmentation only) still loads.
    (path / "tokens.json").write_text(json.dumps(first.bm25.tokenized, ensure_ascii=False), encoding="utf-8")
    older = kb_index._read(path)
    assert older.bm25.tokenized == first.bm25.tokenized
    assert older.answers_bm25.tokenized == first.answers_bm25.tokenized
    assert [h.entry.id for h in fresh.search("工资", mode="lexical")] == \
        [h.entry.id for h in SearchIndex(entries[:25], fresh.encoder, vectors=fresh.vectors).search("工资", mode="lexical")]


def test_e5_vectors_of_another_knowledge_base_are_ignored(entries) -> None:  # type: ignore[no-untyped-def]
    wrong = np.zeros((3, 384), dtype=np.float32)
    index = SearchIndex(entries[:10], HashingEncoder(), passages=wrong)
    assert index.passages is None and index.semantic_scores("工资") is None


def test_fused_search_with_a_test_double_encoder(entries) -> None:  # type: ignore[no-untyped-def]
    index = SearchIndex(entries, HashingEncoder())
    target = entries[5]
    assert index.search(target.paraphrases[0], k=3)[0].entry.id == target.id


def test_answers_are_searched_beside_questions(entries) -> None:  # type: ignore[no-untyped-def]
    """A story names facts an answer mentions although no question or paraphrase does."""
    index = SearchIndex(entries, HashingEncoder())
    for entry in entries[:40]:
        words = set().union(*(set(t) for t in index.bm25.tokenized))
        only_in_answer = [w for w in index.answers_bm25.tokenized[index.entries.index(entry)]
                          if len(w) >= 2 and w not in words]
        if only_in_answer:
            scores = index.answers_bm25.scores(" ".join(only_in_answer))
            assert scores[index.entries.index(entry)] == scores.max() > 0
            return
    pytest.fail("no entry's answer has a word its questions lack")


def test_legal_basis_is_grouped_by_law(entries) -> None:  # type: ignore[no-untyped-def]
    entry = type(entries[0])(**{**entries[0].__dict__, "legal_basis": [
        Citation("劳动合同法", 30), Citation("劳动合同法", 85), Citation("民法典", 1084), Citation("劳动合同法", 30)]})
    assert entry.basis_text() == "《劳动合同法》第30条、第85条；《民法典》第1084条"


def test_retrieval_meets_its_goals_on_the_held_out_queries(built_dir: Path) -> None:
    """The team's own queries as a regression test (the measure is real questions, bench/real_questions.py):
    fused recall@1 >= 0.83, recall@3 >= 0.94, out-of-scope rejection >= 0.90, fused beats either alone.
    (0.90 / 0.97 with 329 entries; 1,206 finer entries now compete with the ones the queries were
    written for, and where a judge found the newer one right too it is listed under ``also``.)"""
    from knowledge_base.evaluate import default_queries_path, evaluate

    report = evaluate(KnowledgeBase(built_dir / "index").index, default_queries_path(),
                      threshold=Settings().kb_answer_threshold)
    assert report["queries"] >= 450
    fused, dense, lexical = (report["modes"][m] for m in ("fused", "dense", "lexical"))
    assert fused["in_scope"] >= 400 and fused["out_of_scope"] >= 50
    assert fused["recall@1"] >= 0.83, report
    assert fused["recall@3"] >= 0.94, report
    assert fused["oos_rejection"] >= 0.90, report
    assert fused["mrr"] > max(dense["mrr"], lexical["mrr"]), report


def test_same_and_nearly_same_questions_are_found(entries) -> None:  # type: ignore[no-untyped-def]
    base = entries[0]
    twin = type(base)(**{**base.__dict__, "id": "twin"})
    near = type(base)(**{**base.__dict__, "id": "near", "question": base.question + "呢"})
    other = type(base)(**{**base.__dict__, "id": "other-lang", "lang": "en"})
    report = validate([base, twin, near, other, *entries[1:40]], None, today=TODAY)
    assert any(base.id in e and "twin" in e and "same question" in e for e in report.errors)
    assert any("near" in w and "nearly the same" in w for w in report.warnings)
    assert not any("other-lang" in m for m in report.errors + report.warnings)
