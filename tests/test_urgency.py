"""The urgency triage measured on messages that training never saw.

tests/data/urgency_heldout.jsonl was written apart from training_data/ by writers who never read it,
briefed only with the kinds of danger (issue 11); tests/data/urgency_test.jsonl by the team that wrote
the training data. ../shared/eval/real_questions_dev.jsonl holds real citizens' questions (read, never
trained on): the bot must not interrupt them with emergency numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu import builtin, urgency
from nlu.text import normalize
from nlu.training import urgency_examples, urgency_report, urgency_sets
from nlu.triage import triage

DATA = Path(__file__).resolve().parent.parent / "training_data"
REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "real_questions_dev.jsonl"


@pytest.fixture(scope="module")
def model(built_dir: Path) -> builtin.BuiltinModel:
    loaded = builtin.load(builtin.current_path(built_dir / "models" / "nlu"))  # type: ignore[arg-type]
    assert loaded.urgency is not None and loaded.urgency.semantic
    return loaded


def test_held_out_set_covers_every_kind_with_hard_negatives() -> None:
    rows = urgency.load_labelled_jsonl(urgency_sets()["heldout"])
    for kind in urgency.KINDS:
        urgent = [r for r in rows if r["kind"] == kind and r["urgent"]]
        negatives = [r for r in rows if r["kind"] == kind and not r["urgent"]]
        assert len(urgent) >= 20 and len(negatives) >= 20, kind


def test_nothing_trains_on_the_test_sets() -> None:
    training = {normalize(text) for text, _ in urgency_examples(DATA)}
    for name, path in urgency_sets().items():
        test = {normalize(row["text"]) for row in urgency.load_labelled_jsonl(path)}
        assert not training & test, name


def test_goals_on_the_independent_held_out_set(model: builtin.BuiltinModel) -> None:
    """Danger noticed (alarm or safety question) >= 0.98; alarms right >= 0.90; every kind noticed."""
    report = urgency_report(urgency.load_labelled_jsonl(urgency_sets()["heldout"]), model)
    assert report["urgent_n"] >= 300 and report["non_urgent_n"] >= 300
    assert report["urgent_recall"] >= 0.98, report
    assert report["urgent_precision"] >= 0.90, report
    weakest = {kind: r["urgent_recall"] for kind, r in report["per_kind"].items() if r["urgent_recall"] < 0.9}
    assert not weakest, weakest


def test_goals_on_the_team_set(model: builtin.BuiltinModel) -> None:
    report = urgency_report(urgency.load_labelled_jsonl(urgency_sets()["team"]), model)
    assert report["urgent_recall"] >= 0.98 and report["urgent_precision"] >= 0.90, report


@pytest.mark.skipif(not REAL.exists(), reason="../shared/eval is not beside this clone")
def test_real_questions_are_rarely_interrupted_with_emergency_numbers(model: builtin.BuiltinModel) -> None:
    questions = [json.loads(line)["question"] for line in REAL.read_text(encoding="utf-8").splitlines() if line]
    scores = model.urgency_scores(questions)
    alarms = sum(triage(q, 500_000, score).urgent for q, score in zip(questions, scores, strict=True))
    assert len(questions) >= 200
    assert alarms / len(questions) <= 0.02, alarms


@pytest.mark.parametrize("text", [
    "昨天出了车祸，对方全责，我现在在医院住着，医药费谁先垫",  # the past: no "call 110 now"
    "我妈被人骗了",  # fraud, not violence
    "前年被老公打过，后来离婚了，现在能要赔偿吗",
    "如果公司三个月不发工资，工人去堵门犯法吗",
    "电视剧里那个被绑架的情节，现实中判几年",
])
def test_past_hypothetical_and_fraud_are_not_alarms(model: builtin.BuiltinModel, text: str) -> None:
    assert not triage(text, 500_000, model.urgency_score(text)).urgent, text


def test_the_rules_stay_a_floor_whatever_the_model_says() -> None:
    from nlu.backend import UrgencyScore

    assert triage("救命 他拿着刀在门口", 500_000).urgent_reasons == ["threat_to_life"]  # no model at all
    unsure = UrgencyScore(probability=0.3, threshold=0.8, check_threshold=0.2)
    assert triage("救命 他拿着刀在门口", 500_000, unsure).urgent_reasons == ["threat_to_life"]
    quiet = UrgencyScore(probability=0.01, threshold=0.8, check_threshold=0.2)
    asked = triage("我在楼顶晒被子 邻居说我占用公共区域", 500_000, quiet)  # a rule's words, no danger read
    assert not asked.urgent and asked.safety_check and asked.check_kind == "self_harm"


def test_the_model_names_the_kind_it_reads(model: builtin.BuiltinModel) -> None:
    rows = [r for r in urgency.load_labelled_jsonl(urgency_sets()["heldout"]) if r["urgent"]]
    named = model.urgency_scores([r["text"] for r in rows])
    right = sum(score is not None and score.reason == r["kind"] for score, r in zip(named, rows, strict=True))
    assert right / len(rows) >= 0.7, right / len(rows)
