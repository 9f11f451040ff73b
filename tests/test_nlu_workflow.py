"""The maintainer's loop: validate, train with a promotion check, test with reports, review real traffic."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.channels.testing import TestChat
from bot.cli import app
from bot.runtime import Runtime
from bot.settings import Settings, get_settings
from nlu import builtin
from nlu.data import Example, load_training_data
from nlu.review import ReviewError, apply, collect
from nlu.training import train_and_promote


def _write(examples: list[Example], directory: Path) -> Path:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for ex in examples:
        by_intent[ex.intent].append(ex.text)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {"version": "3.1", "nlu": [{"intent": i, "examples": "".join(f"- {t}\n" for t in texts)}
                                     for i, texts in by_intent.items()]}
    (directory / "nlu.yml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve examples per intent: enough for 5-fold cross-validation, quick to train."""
    examples = load_training_data(Settings().training_data_dir)
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        if len(by_intent[ex.intent]) < 12:
            by_intent[ex.intent].append(ex)
    return _write([e for group in by_intent.values() for e in group], tmp_path_factory.mktemp("small") / "data")


def test_a_worse_model_is_not_promoted_unless_forced(small_data: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    first = train_and_promote(small_data, models, folds=3)
    assert first.promoted and builtin.current_path(models) == first.path
    assert {"service_macro_f1", "topic_macro_f1", "act_macro_f1"} <= set(first.metrics)

    examples = load_training_data(small_data)
    rng = random.Random(3)
    topics = sorted({e.intent for e in examples if e.intent.startswith("topic_")})
    scrambled = [Example(e.text, rng.choice(topics) if e.intent.startswith("topic_") else e.intent, e.source)
                 for e in examples]
    worse_dir = _write(scrambled, tmp_path / "worse")
    worse = train_and_promote(worse_dir, models, folds=3)
    assert not worse.promoted and any("topic_macro_f1" in r for r in worse.regressions)
    assert builtin.current_path(models) == first.path  # the server keeps the good model

    forced = train_and_promote(worse_dir, models, folds=3, force=True)
    assert forced.promoted and builtin.current_path(models) == forced.path


def _urgency_subset(directory: Path, kinds: set[str] | None, per_label: int = 25) -> None:
    """training_data/urgency.yml cut to ``per_label`` examples of the given kinds (all when None)."""
    from nlu import urgency

    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in urgency.load_examples(Settings().training_data_dir / "urgency.yml"):
        if (kinds is None or label in kinds or label == urgency.NOT_URGENT) and len(by_label[label]) < per_label * (
                8 if label == urgency.NOT_URGENT else 1):
            by_label[label].append(text)
    doc = {"version": "3.1", "urgency": [{"label": label, "examples": "".join(f"- {t}\n" for t in texts)}
                                         for label, texts in by_label.items()]}
    (directory / "urgency.yml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def test_a_model_that_notices_less_danger_is_not_promoted(small_data: Path, tmp_path: Path) -> None:
    import shutil

    good, worse, models = tmp_path / "good", tmp_path / "worse", tmp_path / "models"
    shutil.copytree(small_data, good)
    shutil.copytree(small_data, worse)
    _urgency_subset(good, None)
    _urgency_subset(worse, {"domestic_violence", "wage_crowd"})  # blind to most kinds of danger
    first = train_and_promote(good, models, folds=3)
    assert first.promoted and first.metrics["urgent_recall"] > 0.5, first.metrics
    second = train_and_promote(worse, models, folds=3)
    assert not second.promoted and any(r.startswith("urgent_recall") for r in second.regressions), second.metrics
    assert builtin.current_path(models) == first.path


def test_nlu_test_writes_rasa_style_reports(small_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGALBOT_TRAINING_DATA_DIR", str(small_data))
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["nlu", "test", "--folds", "3", "--out", str(tmp_path / "r"), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    for name in ("intent_report.json", "confusion_matrix_service.png", "confusion_matrix_topic.png",
                 "confusion_matrix_act.png", "histogram.png", "errors.json"):
        assert (tmp_path / "r" / name).stat().st_size > 0
    report = json.loads((tmp_path / "r" / "intent_report.json").read_text())
    labor = report["topic"]["labels"]["labor"]
    assert {"precision", "recall", "f1-score", "support", "confused_with"} <= set(labor)
    assert 0 <= report["topic"]["expected_calibration_error"] <= 1
    errors = json.loads((tmp_path / "r" / "errors.json").read_text())
    assert all({"text", "axis", "label", "predicted", "confidence"} <= set(e) for e in errors)


def test_nlu_test_reports_urgency_per_kind_for_the_model_in_service(built_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(built_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["nlu", "test", "--folds", "2", "--out", str(tmp_path / "r")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "urgency on the heldout set" in result.output and "| self_harm |" in result.output
    report = json.loads((tmp_path / "r" / "urgency_heldout.json").read_text())
    assert set(report["per_kind"]) >= {"domestic_violence", "extortion", "held_captive"}
    assert report["per_kind"]["self_harm"]["urgent_n"] >= 20


def test_too_few_examples_is_a_clear_error(tmp_path: Path) -> None:
    data = _write([Example("你好", "greet", ""), Example("再见", "goodbye", ""), Example("拜拜", "goodbye", "")],
                  tmp_path / "d")
    result = CliRunner().invoke(app, ["nlu", "test", "--folds", "5"], env={"LEGALBOT_TRAINING_DATA_DIR": str(data)})
    assert result.exit_code == 1


def test_review_collects_what_went_wrong_and_applies_labels(runtime: Runtime, tmp_path: Path) -> None:
    chat = TestChat(runtime.engine, user_id="review-1")
    chat.say("这个事情我该怎么办啊")  # unclear: clarified
    chat.say("房东不退押金怎么办，电话13812345678")
    chat.press("/not_helpful")
    items = collect(runtime.store, low_confidence=0.35)
    texts = {i["text"]: i for i in items}
    assert "clarified" in texts["这个事情我该怎么办啊"]["why"]
    rejected = next(i for t, i in texts.items() if t.startswith("房东不退押金"))
    assert "not_helpful" in rejected["why"] and "13812345678" not in rejected["text"]

    review = tmp_path / "review.yml"
    labelled = [{**texts["这个事情我该怎么办啊"], "label": "topic_other"}, {**rejected, "label": ""}]
    review.write_text(yaml.safe_dump(labelled, allow_unicode=True))
    data = tmp_path / "training_data"
    assert apply(review, data) == 1
    assert apply(review, data) == 1  # appends again into the same intent block
    added = load_training_data(data)
    assert [(e.intent, e.text) for e in added] == [("topic_other", "这个事情我该怎么办啊")] * 2

    review.write_text(yaml.safe_dump([{"text": "x", "label": "topic_spaceships"}]))
    with pytest.raises(ReviewError, match="unknown label"):
        apply(review, data)


def test_review_never_mines_button_presses(runtime: Runtime) -> None:
    chat = TestChat(runtime.engine, user_id="review-2")
    chat.say("这个事情我该怎么办啊")  # unclear: clarified, and the citizen picks a category
    chat.press("/topic:labor")
    chat.press("/not_helpful")
    chat.press("/lawyer")
    pressed = [r.incoming for r in chat.replies[1:]]
    assert {m.kind for m in pressed} == {"button"}
    items = collect(runtime.store, low_confidence=0.35)
    assert [i["text"] for i in items] == ["这个事情我该怎么办啊"]
    assert not {i["message_id"] for i in items} & {m.id for m in pressed}


def test_several_questions_in_one_message_get_one_part_each(runtime: Runtime) -> None:
    text = "老公欠了十几万网贷还打麻将，我想离婚分财产。另外我在公司干了三年一直没签劳动合同，能要双倍工资吗"
    decision = runtime.engine.decide(text)
    assert decision.action in ("answer", "suggest") and decision.reason == "several_questions"
    shown = decision.parts if decision.action == "answer" else decision.suggestions
    topics = {h.entry.topic.value for h in shown}
    assert len(shown) >= 2 and "labor" in topics and topics & {"marriage_family", "debt"}, decision.record()
    assert runtime.engine.decide("公司三年没给我签劳动合同，能要双倍工资吗").reason != "several_questions"
    sure = runtime.engine.policy
    strict = type(sure)(sure.classifier, sure.kb, runtime.settings.model_copy(update={"kb_answer_threshold": 0.0}))
    both = strict.decide(text)
    assert both.action == "answer" and len(both.parts) >= 2
    contract = both.contract()
    assert all(h.entry.answer in contract["answer"] for h in both.parts)
