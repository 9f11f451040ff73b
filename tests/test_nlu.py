"""NLU: the Rasa-format data loads, the built-in model ranks every label, triage catches danger."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from bot.taxonomy import Act, Service, Topic
from nlu import builtin
from nlu.backend import NLUUnavailable
from nlu.classifier import Classifier
from nlu.data import TrainingDataError, load_file, load_training_data
from nlu.triage import amounts_in, triage
from nlu.validate import validate

DATA = Settings().training_data_dir


@pytest.fixture(scope="module")
def classifier(built_dir: Path) -> Classifier:
    return Classifier(builtin.BuiltinBackend(built_dir / "models" / "nlu"))


def test_training_data_covers_every_label_in_rasa_format() -> None:
    examples = load_training_data(DATA)
    intents = {e.intent for e in examples}
    assert {f"service_{s}" for s in Service} <= intents
    assert {f"topic_{t}" for t in Topic} <= intents
    assert {a.value for a in Act if a is not Act.question} <= intents
    assert validate(examples).errors == []


def test_rasa_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    你好\n')
    with pytest.raises(TrainingDataError, match="bad.yml"):
        load_file(bad)
    (tmp_path / "broken.yml").write_text("nlu: [unclosed")
    with pytest.raises(TrainingDataError, match="not valid YAML"):
        load_file(tmp_path / "broken.yml")


def test_entity_annotations_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "e.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: topic_labor\n  examples: |\n    - 欠了我[3万](amount)工资\n')
    assert load_file(path)[0].text == "欠了我3万工资"


def test_validate_finds_conflicts_and_unknown_labels(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: topic_labor\n  examples: |\n    - 工资没发\n'
                    '- intent: topic_debt\n  examples: |\n    - 工资没发\n- intent: topic_spaceship\n  examples: |\n    - 飞船\n')
    report = validate(load_file(path), min_examples=1)
    assert any("topic_debt, topic_labor" in e for e in report.errors)
    assert any("topic_spaceship" in e for e in report.errors)


@pytest.mark.parametrize(
    ("text", "topic"),
    [("老板三个月没发工资", "labor"), ("离婚了孩子抚养权归谁", "marriage_family"), ("借钱不还怎么起诉", "debt"),
     ("被车撞了对方全责怎么赔", "traffic"), ("房东不退押金", "property")],
)
def test_classifies_everyday_questions_by_topic(classifier: Classifier, text: str, topic: str) -> None:
    result = classifier.classify(text)
    assert result.topic.value == topic
    assert result.act is Act.question


def test_classifies_services_and_acts(classifier: Classifier) -> None:
    assert classifier.classify("没钱请律师能申请法律援助吗").service is Service.legal_aid
    assert classifier.classify("你好").act is Act.greet
    assert classifier.classify("谢谢你").act is Act.thanks
    ranking = classifier.classify("工资").rankings
    assert len(ranking.topic) == len(Topic) and abs(sum(c for _, c in ranking.topic) - 1) < 1e-6


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NLUUnavailable, match="legalbot nlu train"):
        builtin.BuiltinBackend(tmp_path).rank("你好")


def test_promoted_model_is_picked_up_without_restart(tmp_path: Path) -> None:
    examples = load_training_data(DATA)
    backend = builtin.BuiltinBackend(tmp_path)
    first = builtin.save(builtin.train(examples), tmp_path)
    assert backend.version() == first.name
    small = [e for e in examples if e.intent in ("greet", "goodbye", "topic_labor", "topic_debt", "service_legal_aid")]
    model = builtin.train(small)
    model.meta["data_sha256"] = "feedbeef" * 2
    second = builtin.save(model, tmp_path)
    assert second.name != first.name and backend.version() == second.name


@pytest.mark.parametrize(
    "text",
    ["我老公又在打我", "有人拿刀威胁要杀我", "我不想活了", "我儿子刚被警察带走了", "明天就开庭了还没找到律师",
     "几十个工人堵在工地门口讨薪", "房东今天要把我们赶出去还换锁", "孩子被打得浑身是伤"],
)
def test_urgent_messages(classifier: Classifier, text: str) -> None:
    assert classifier.classify(text).urgent, text


@pytest.mark.parametrize(
    "text",
    ["离婚冷静期多久", "家暴怎么认定", "去年被打了现在还能告吗", "工伤认定需要多久", "拘留和逮捕有什么区别", "上诉期是多少天"],
)
def test_hard_negatives_are_not_urgent(classifier: Classifier, text: str) -> None:
    assert not classifier.classify(text).urgent, text


def test_rules_alone_still_catch_the_unmistakable() -> None:
    assert triage("救命 他拿着刀在门口", 500_000).urgent_reasons == ["threat_to_life"]
    assert not triage("家暴怎么认定", 500_000).urgent


def test_complexity_and_amounts() -> None:
    assert amounts_in("欠我3万元还有两万") == [30000, 20000]
    # As people say them: a last digit after a unit is of the unit below; counts of other things are not money.
    assert amounts_in("押金三千块，又借了两万五，一万二千元") == [3000, 25000, 12000]
    assert amounts_in("干了一百二十天，五百米外，第一千零七十九条，三个人") == []
    assert "proceedings_under_way" in triage("对方已经起诉我了", 500_000).complex_reasons
    assert "proceedings_under_way" in triage("我收到了法院的传票，下周就要开庭，怎么准备", 500_000).complex_reasons
    # A judgment already given is not a case under way: what follows it is answerable.
    assert not triage("去年已经起诉了，也胜诉了，对方就是不还钱，怎么申请执行", 500_000).complex
    assert not triage("法院判决书写了每月付抚养费，他一直不给怎么办", 500_000).complex
    assert "amount_above_limit" in triage("工程款600万没给", 500_000).complex_reasons
    assert not triage("欠我3000块", 500_000).complex
