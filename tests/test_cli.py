"""The command-line contract of PRODUCT.md: one JSON object per input line, exact keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings

CLASSIFY_KEYS = {"text", "service", "service_confidence", "topic", "topic_confidence", "act", "urgent", "safety_check",
                 "ranking"}
ASK_KEYS = {"text", "service", "topic", "urgent", "action", "faq_id", "score", "answer", "legal_basis", "suggestions"}


@pytest.fixture
def cli(built_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LEGALBOT_DATA_DIR", str(built_dir))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _objects(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_classify_json_reads_stdin_lines(cli: CliRunner) -> None:
    result = cli.invoke(app, ["classify", "--json"], input="老板拖欠工资三个月了\n\n我老公又打我了\n")
    assert result.exit_code == 0, result.output
    objects = _objects(result.output)
    assert len(objects) == 2
    assert all(set(o) == CLASSIFY_KEYS for o in objects)
    assert objects[0]["topic"] == "labor" and objects[0]["urgent"] is False
    assert objects[1]["urgent"] is True
    assert set(objects[0]["ranking"]) == {"service", "topic", "act"}
    assert abs(sum(objects[0]["ranking"]["topic"].values()) - 1) < 0.01


def test_classify_json_takes_arguments(cli: CliRunner) -> None:
    result = cli.invoke(app, ["classify", "--json", "申请法律援助需要什么条件"])
    [obj] = _objects(result.output)
    assert obj["service"] == "legal_aid"
    assert 0 <= obj["service_confidence"] <= 1


def test_ask_json_gives_the_full_decision(cli: CliRunner) -> None:
    result = cli.invoke(app, ["ask", "--json"], input="老板拖欠工资三个月了\n有人拿刀威胁要杀我\n")
    assert result.exit_code == 0, result.output
    answer, urgent = _objects(result.output)
    assert set(answer) == ASK_KEYS and set(urgent) == ASK_KEYS
    assert answer["action"] == "answer" and answer["faq_id"].startswith("labor-")
    assert answer["legal_basis"] and all("《" in b for b in answer["legal_basis"])
    assert urgent["action"] == "handoff" and urgent["urgent"] is True and urgent["faq_id"] is None


def test_ask_has_no_side_effects(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["ask", "--json", "房东不退押金"])
    assert result.exit_code == 0, result.output
    [decision] = _objects(result.output)
    assert set(decision) == ASK_KEYS and decision["text"] == "房东不退押金"
    assert decision["action"] == "answer" and decision["faq_id"].startswith("property-") and decision["answer"]
    assert not (tmp_path / "cli.db").exists()


def test_nlu_and_kb_validate_pass_on_the_project_content(cli: CliRunner) -> None:
    nlu = cli.invoke(app, ["nlu", "validate"])
    assert nlu.exit_code == 0, nlu.output
    kb = cli.invoke(app, ["kb", "validate"])
    assert kb.exit_code == 0, kb.output


def test_terminal_chat_numbers_buttons(cli: CliRunner) -> None:
    result = cli.invoke(app, ["chat", "--user", "term-1"], input="老板拖欠工资三个月了\n1\n")
    assert result.exit_code == 0, result.output
    assert "法律依据" in result.output and "1) 有帮助" in result.output
    assert "很高兴" in result.output


def test_lawyer_add_rejects_short_passwords(cli: CliRunner) -> None:
    result = cli.invoke(app, ["lawyer", "add", "wang", "--password", "short"])
    assert result.exit_code == 1
    assert "at least 12" in result.output


def test_lawyer_telegram_link_prints_a_one_time_code(cli: CliRunner) -> None:
    assert cli.invoke(app, ["lawyer", "add", "wang", "--password", "password-123"]).exit_code == 0
    result = cli.invoke(app, ["lawyer", "telegram-link", "wang"])
    assert result.exit_code == 0 and "/link " in result.output
    missing = cli.invoke(app, ["lawyer", "telegram-link", "nobody"])
    assert missing.exit_code == 1 and "no lawyer named" in missing.output
