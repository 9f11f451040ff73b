"""Legal-aid pre-screening (issue 14, part 2): scope, the means test and its exemptions under the Legal
Aid Law, hardship standards as dated data per area, clear errors, and the `legal-aid screen` command."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import get_settings
from services.city import load_city
from services.legal_aid import DEFAULT_STANDARDS, ScreenError, Standards, load_standards, screen

TODAY = dt.date(2026, 12, 4)
#: The districts come from the city file; a city of two is enough here.
DISTRICTS = ("东区", "西县")
CITY = """
city: 测试市
districts: [{name: 东区}, {name: 西县}]
offices: []
centres: []
"""
STANDARDS = """
standards:
  - {area: "*", effective_from: 2025-01-01, monthly_income_per_person: 2000, source: test}
  - {area: "*", effective_from: 2026-07-01, monthly_income_per_person: 2400, source: test}
  - {area: 西县, effective_from: 2025-01-01, monthly_income_per_person: 1500, source: test}
"""


@pytest.fixture
def standards(tmp_path: Path) -> Standards:
    path = tmp_path / "standards.yml"
    path.write_text(STANDARDS, encoding="utf-8")
    return load_standards(path, DISTRICTS)


def run(standards: Standards, today: dt.date = TODAY, **request: Any) -> dict[str, Any]:
    return screen(request, standards, today=today).as_dict()


def articles(result: dict[str, Any]) -> set[int]:
    assert all(b["law"] == "法律援助法" for b in result["legal_basis"])
    return {b["article"] for b in result["legal_basis"]}


def test_a_covered_matter_and_a_household_in_hardship_is_likely(standards: Standards) -> None:
    result = run(standards, matter="labour_pay", household_size=3, household_monthly_income=6000)
    assert result["result"] == "likely"
    assert {31, 34, 41, 43} <= articles(result)
    assert any("经济困难状况说明" in m for m in result["materials"])  # art. 41: the statement or commitment
    assert any("七日内" in r for r in result["reasons"])  # a pre-screen: the centre decides (art. 43)


def test_income_above_the_standard_is_unlikely_with_the_alternatives(standards: Standards) -> None:
    result = run(standards, matter="support_payments", household_size=2, household_monthly_income=6000)
    assert result["result"] == "unlikely"
    reasons = " ".join(result["reasons"])
    assert "3000" in reasons and "2400" in reasons and "12348" in reasons and "调解" in reasons


def test_the_standard_in_effect_on_the_day_and_for_the_district_is_used(standards: Standards) -> None:
    request = {"matter": "work_injury", "household_size": 1, "household_monthly_income": 2200}
    assert run(standards, today=dt.date(2026, 6, 30), **request)["result"] == "unlikely"  # 2000 then
    assert run(standards, today=dt.date(2026, 7, 1), **request)["result"] == "likely"  # 2400 from July
    assert run(standards, district="东区", **request)["result"] == "likely"  # no standard of its own: "*"
    county = run(standards, district="西县", **request)
    assert county["result"] == "unlikely" and "1500" in " ".join(county["reasons"])


@pytest.mark.parametrize("circumstance", ["domestic_violence", "abuse", "abandonment", "good_samaritan"])
def test_article_32_lifts_the_means_test(standards: Standards, circumstance: str) -> None:
    result = run(standards, matter="support_payments", household_size=1, household_monthly_income=50_000,
                 circumstances=[circumstance])
    assert result["result"] == "likely" and 32 in articles(result) and 34 not in articles(result)
    assert not any("经济困难状况说明" in m for m in result["materials"])


def test_a_defender_the_authorities_must_appoint_is_likely_whatever_the_income(standards: Standards) -> None:
    result = run(standards, matter="criminal_defence", household_size=1, household_monthly_income=90_000,
                 circumstances=["minor"])
    assert result["result"] == "likely" and 25 in articles(result)


def test_criminal_defence_above_the_standard_still_needs_review(standards: Standards) -> None:
    """Art. 24: hardship "or other reasons"; income alone does not rule it out."""
    result = run(standards, matter="criminal_defence", household_size=1, household_monthly_income=90_000)
    assert result["result"] == "review" and 24 in articles(result)


def test_article_42_people_prove_status_instead_of_hardship(standards: Standards) -> None:
    migrant = run(standards, matter="labour_pay", circumstances=["migrant_worker"])
    assert migrant["result"] == "likely" and 42 in articles(migrant)
    # The migrant worker's exemption is for pay and work injuries only: a traffic claim takes the means test.
    traffic = run(standards, matter="traffic_injury", household_size=1, household_monthly_income=9000,
                  circumstances=["migrant_worker"])
    assert traffic["result"] == "unlikely" and 42 not in articles(traffic)


def test_a_topic_is_never_likely_on_its_own(standards: Standards) -> None:
    poor = {"household_size": 4, "household_monthly_income": 2000}
    labour = run(standards, matter="labor", **poor)
    assert labour["result"] == "review" and "劳动报酬" in labour["reasons"][0]
    contract = run(standards, matter="contract", **poor)  # not in the Law's list; a province may add it
    assert contract["result"] == "review" and "第三十一条第九项" in contract["reasons"][0]
    assert run(standards, matter="contract", household_size=1, household_monthly_income=20_000)["result"] == "unlikely"


def test_without_the_household_figures_the_centre_reviews(standards: Standards) -> None:
    result = run(standards, matter="medical_injury")
    assert result["result"] == "review" and any("家庭人口" in r for r in result["reasons"])


@pytest.mark.parametrize("request_, message", [
    ({"matter": "divorce_party"}, "unknown matter"),
    ({}, "unknown matter"),
    ({"matter": "labour_pay", "district": "北区"}, "unknown district"),
    ({"matter": "labour_pay", "household_size": 0}, "household_size"),
    ({"matter": "labour_pay", "household_size": True}, "household_size"),
    ({"matter": "labour_pay", "household_size": 2.5}, "household_size"),
    ({"matter": "labour_pay", "household_monthly_income": -1}, "household_monthly_income"),
    ({"matter": "labour_pay", "household_monthly_income": "3000"}, "household_monthly_income"),
    ({"matter": "labour_pay", "circumstances": "minor"}, "circumstances"),
    ({"matter": "labour_pay", "circumstances": ["rich"]}, "unknown circumstance"),
])
def test_bad_input_is_a_clear_error(standards: Standards, request_: dict[str, Any], message: str) -> None:
    with pytest.raises(ScreenError, match=message):
        screen(request_, standards, today=TODAY)
    with pytest.raises(ScreenError, match="JSON object"):
        screen([], standards)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, message", [
    ("standards: []", "non-empty list"),
    ("standards: [{area: '*', effective_from: soon, monthly_income_per_person: 1}]", "effective_from"),
    ("standards: [{area: '*', effective_from: 2025-01-01, monthly_income_per_person: 0}]", "positive"),
    ("standards: [{area: '', effective_from: 2025-01-01, monthly_income_per_person: 1}]", "area"),
    ("standards: [{area: '*', effective_from: 2025-01-01, monthly_income_per_person: 1},"
     " {area: '*', effective_from: 2025-01-01, monthly_income_per_person: 2}]", "same day"),
    ("standards: [{area: 北区, effective_from: 2025-01-01, monthly_income_per_person: 1}]",
     "area '北区' is not a district of the city file; the districts are 东区, 西县"),
    # an old file listing its own districts: they come from the city file now
    ("districts: [东区]\nstandards: [{area: '*', effective_from: 2025-01-01, monthly_income_per_person: 1}]",
     "'districts' are no longer listed here"),
    ("standards: [oops", "cannot read"),
])
def test_a_bad_standards_file_names_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScreenError, match=message):
        load_standards(path, DISTRICTS)


def test_the_shipped_example_standards_load_for_the_example_city() -> None:
    standards = load_standards(DEFAULT_STANDARDS, load_city().districts)
    assert standards.on(None, TODAY) is not None and standards.districts == load_city().districts


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    path, city = tmp_path / "standards.yml", tmp_path / "city.yml"
    path.write_text(STANDARDS, encoding="utf-8")
    city.write_text(CITY, encoding="utf-8")
    monkeypatch.setenv("LEGALBOT_LEGAL_AID_STANDARDS_FILE", str(path))
    monkeypatch.setenv("LEGALBOT_CITY_FILE", str(city))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_screen_json_reads_one_object_per_line(cli: CliRunner) -> None:
    lines = [{"matter": "labour_pay", "district": "东区", "household_size": 2, "household_monthly_income": 3000},
             {"matter": "support_payments", "circumstances": ["domestic_violence"]}]
    result = cli.invoke(app, ["legal-aid", "screen", "--json"],
                        input="\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n")
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line) for line in result.output.splitlines()]
    assert [o["result"] for o in outputs] == ["likely", "likely"]
    assert all(set(o) == {"result", "reasons", "materials", "legal_basis"} for o in outputs)


def test_screen_answers_a_bad_line_with_an_error_and_goes_on(cli: CliRunner) -> None:
    result = cli.invoke(app, ["legal-aid", "screen", "--json"],
                        input='not json\n{"matter": "nope"}\n{"matter": "labour_pay"}\n')
    assert result.exit_code == 1
    first, second, third = (json.loads(line) for line in result.output.splitlines())
    assert first["error"].startswith("line 1:") and "unknown matter" in second["error"]
    assert third["result"] == "review"


def test_validate_reports_the_file_and_refuses_a_bad_one(cli: CliRunner, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    good = cli.invoke(app, ["legal-aid", "validate"])
    assert good.exit_code == 0 and "3 standards, 2 districts: ok" in good.output
    bad = tmp_path / "bad.yml"
    bad.write_text("standards: []", encoding="utf-8")
    monkeypatch.setenv("LEGALBOT_LEGAL_AID_STANDARDS_FILE", str(bad))
    get_settings.cache_clear()
    refused = cli.invoke(app, ["legal-aid", "validate"])
    assert refused.exit_code == 1 and "non-empty list" in refused.output and "Traceback" not in refused.output


def test_validate_refuses_standards_for_a_district_the_city_does_not_have(cli: CliRunner, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    city = tmp_path / "smaller.yml"
    city.write_text(CITY.replace(", {name: 西县}", ""), encoding="utf-8")
    monkeypatch.setenv("LEGALBOT_CITY_FILE", str(city))
    get_settings.cache_clear()
    refused = cli.invoke(app, ["legal-aid", "validate"])
    assert refused.exit_code == 1 and "area '西县' is not a district of the city file" in refused.output
