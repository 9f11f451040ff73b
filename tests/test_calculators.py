"""Legal calculators, checked against numbers worked by hand from the articles. Each test names the
article that gives its number. The figures are a test file of round values (not the shipped examples),
so that the arithmetic can be followed: average monthly wage 10,000, minimum wage 2,500, urban per-capita
disposable income 50,000, consumption expenditure 30,000, national urban disposable income 50,000."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from calculators import INPUTS, KINDS, CalcError, Figures, FiguresError, calculate, load_figures, parse_value
from calculators.figures import DEFAULT_FIGURES

TODAY = dt.date(2026, 12, 5)
FIGURES = """\
default_area: 测试市
figures:
  - {name: avg_monthly_wage, area: 测试市, year: 2025, value: 10000, unit: 元/月, effective: 2026-07-01, source: 测试, example: false}
  - {name: avg_monthly_wage, area: 测试市, year: 2024, value: 9000, unit: 元/月, effective: 2025-07-01, source: 测试, example: false}
  - {name: minimum_wage, area: 测试市, year: 2026, value: 2500, unit: 元/月, effective: 2026-04-01, source: 测试, example: false}
  - {name: urban_disposable_income, area: 测试市, year: 2025, value: 50000, unit: 元/年, effective: 2026-03-01, source: 测试, example: false}
  - {name: urban_consumption_expenditure, area: 测试市, year: 2025, value: 30000, unit: 元/年, effective: 2026-03-01, source: 测试, example: false}
  - {name: national_urban_disposable_income, area: 全国, year: 2025, value: 50000, unit: 元/年, effective: 2026-03-01, source: 测试, example: false}
  - {name: lpr_1y, area: 全国, year: 2023, value: 3.55, unit: "%", effective: 2023-06-20, source: 测试, example: false}
  - {name: lpr_1y, area: 全国, year: 2026, value: 3.0, unit: "%", effective: 2026-06-22, source: 测试, example: false}
"""


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Figures:
    path = tmp_path_factory.mktemp("figures") / "figures.yml"
    path.write_text(FIGURES, encoding="utf-8")
    return load_figures(path)


def calc(figures: Figures, kind: str, **inputs: object) -> Decimal:
    result = calculate(kind, inputs, figures, today=TODAY)
    assert result.warnings == [], [w.en for w in result.warnings]
    return result.amount


# ---- severance and unlawful termination (劳动合同法 arts. 47, 87) ---------------------------------

def test_severance_full_years_and_a_half_year_counting_as_one(figures: Figures) -> None:
    # art. 47 para 1: 8 full years = 8 months; exactly six months more counts as a year: 9 × 8,000
    assert calc(figures, "severance", years_of_service="8年6个月", monthly_wage=8000) == Decimal("72000.00")
    assert calc(figures, "severance", months_of_service=102, monthly_wage=8000) == Decimal("72000.00")
    # five months left over: half a month, 8.5 × 8,000
    assert calc(figures, "severance", years_of_service="8年5个月", monthly_wage=8000) == Decimal("68000.00")


def test_severance_under_six_months_is_half_a_month(figures: Figures) -> None:
    # art. 47 para 1: under six months, half a month's wage: 0.5 × 6,000
    assert calc(figures, "severance", months_of_service=5, monthly_wage=6000) == Decimal("3000.00")
    assert calc(figures, "severance", years_of_service="6个月", monthly_wage=6000) == Decimal("6000.00")


def test_severance_three_times_cap_and_twelve_years(figures: Figures) -> None:
    # art. 47 para 2: 50,000 > 3 × 10,000: paid at 30,000 a month, and 15 years are capped at 12
    result = calculate("severance", {"years_of_service": 15, "monthly_wage": 50000}, figures, today=TODAY)
    assert result.amount == Decimal("360000.00")
    assert any("十二年" in s.text_zh for s in result.steps)
    # the same earner with 5 years: 5 × 30,000 (the year cap does not bite)
    assert calc(figures, "severance", years_of_service=5, monthly_wage=50000) == Decimal("150000.00")
    # a wage exactly at 3× is not above it: 15 × 30,000, no twelve-year cap
    assert calc(figures, "severance", years_of_service=15, monthly_wage=30000) == Decimal("450000.00")
    # the 3× figure given by the citizen: 3 × 12,000 = 36,000 ≥ 35,000, so 15 × 35,000
    assert calc(figures, "severance", years_of_service=15, monthly_wage=35000,
                local_avg_monthly_wage=12000) == Decimal("525000.00")


def test_severance_minimum_wage_floor(figures: Figures) -> None:
    # 劳动合同法实施条例 art. 27: an average of 2,000 below the 2,500 minimum wage: 3 × 2,500
    result = calculate("severance", {"years_of_service": 3, "monthly_wage": 2000}, figures, today=TODAY)
    assert result.amount == Decimal("7500.00")
    assert "劳动合同法实施条例第二十七条" in result.legal_basis


def test_severance_reports_its_figures_and_basis(figures: Figures) -> None:
    result = calculate("severance", {"years_of_service": 2, "monthly_wage": 8000}, figures, today=TODAY)
    names = {(f["name"], f["year"], f["area"], f["example"]) for f in result.figures}
    assert names == {("avg_monthly_wage", 2025, "测试市", False), ("minimum_wage", 2026, "测试市", False)}
    assert result.legal_basis[0] == "劳动合同法第四十七条"
    assert any("2008" in a.zh for a in result.assumptions)


def test_unlawful_termination_is_twice_severance(figures: Figures) -> None:
    # arts. 87 and 48: twice the art. 47 amount: 2 × 3.5 × 8,000
    result = calculate("unlawful_termination", {"years_of_service": "3年2个月", "monthly_wage": "8千"}, figures,
                       today=TODAY)
    assert result.amount == Decimal("56000.00")
    assert {"劳动合同法第八十七条", "劳动合同法第四十八条", "劳动合同法实施条例第二十五条"} <= set(result.legal_basis)


# ---- double wage (劳动合同法 art. 82; 实施条例 arts. 6-7) ------------------------------------------

@pytest.mark.parametrize(("months", "expected"), [
    (1, "0.00"),        # the first month: nothing extra
    (5, "24000.00"),    # months 2-5: 4 × 6,000
    (12, "66000.00"),   # at most 11 months (实施条例 art. 7)
    (20, "66000.00"),
])
def test_double_wage(figures: Figures, months: int, expected: str) -> None:
    assert calc(figures, "double_wage", months_without_contract=months, monthly_wage=6000) == Decimal(expected)


# ---- overtime (劳动法 art. 44) ----------------------------------------------------------------------

def test_overtime_rates(figures: Figures) -> None:
    # 8,700 / 21.75 = 400 a day, 50 an hour; 10 h × 75 + 8 h × 100 + 8 h × 150 = 750 + 800 + 1,200
    assert calc(figures, "overtime", monthly_wage=8700, workday_hours=10, restday_hours=8,
                holiday_hours=8) == Decimal("2750.00")
    # rounding to the fen, half up: 5,000 / 21.75 / 8 × 1.5 × 1 = 43.1034… → 43.10
    assert calc(figures, "overtime", monthly_wage=5000, workday_hours=1) == Decimal("43.10")


def test_overtime_needs_some_hours(figures: Figures) -> None:
    with pytest.raises(CalcError) as caught:
        calculate("overtime", {"monthly_wage": 8700}, figures, today=TODAY)
    assert caught.value.field == "workday_hours"


# ---- work injury (工伤保险条例 arts. 35-39, 64) ------------------------------------------------------

def test_injury_disability_grade_1_with_the_300_percent_ceiling(figures: Figures) -> None:
    # art. 64: 40,000 is above 300% of 10,000, so 30,000; art. 35: grade 1 is 27 months
    result = calculate("injury_disability", {"grade": "一级", "monthly_wage": 40000}, figures, today=TODAY)
    assert result.amount == Decimal("810000.00")
    assert result.legal_basis == ["工伤保险条例第三十五条", "工伤保险条例第六十四条"]
    assert any("90%" in s.text_zh for s in result.steps)  # the monthly allowance, described


def test_injury_disability_grade_10_and_the_60_percent_floor(figures: Figures) -> None:
    # art. 37: grade 10 is 7 months; 8,000 lies within 60%-300% of 10,000
    assert calc(figures, "injury_disability", grade="10级", monthly_wage=8000) == Decimal("56000.00")
    # art. 64: 4,000 is below 60% of 10,000, so 6,000 × 7
    assert calc(figures, "injury_disability", grade=10, monthly_wage=4000) == Decimal("42000.00")


def test_injury_death(figures: Figures) -> None:
    # art. 39: funeral grant 6 × 10,000, one-off benefit 20 × 50,000
    result = calculate("injury_death", {}, figures, today=TODAY)
    assert result.amount == Decimal("1060000.00")
    assert [s.amount for s in result.steps if s.amount is not None][:2] == [Decimal(60000), Decimal(1000000)]


# ---- personal injury (人身损害赔偿解释 arts. 12, 14, 15, 17) ----------------------------------------

@pytest.mark.parametrize(("age", "years"), [(30, 20), (60, 20), (61, 19), (74, 6), (75, 5), (90, 5)])
def test_death_compensation_years_by_age(figures: Figures, age: int, years: int) -> None:
    # art. 15: income × years; art. 14: funeral costs 6 × 10,000
    expected = Decimal(50000) * years + 60000
    assert calc(figures, "personal_injury", case="death", age=age) == expected


def test_disability_compensation_by_grade(figures: Figures) -> None:
    # art. 12: 50,000 × 20 years × 10% (grade 10, the coefficient an assumption)
    result = calculate("personal_injury", {"case": "disability", "age": 40, "disability_grade": "十级"}, figures,
                       today=TODAY)
    assert result.amount == Decimal("100000.00")
    assert any("系数" in a.zh for a in result.assumptions)
    # grade 1 at 61: 50,000 × 19 × 100%
    assert calc(figures, "personal_injury", case="disability", age=61, disability_grade=1) == Decimal("950000.00")


def test_disability_needs_a_grade(figures: Figures) -> None:
    with pytest.raises(CalcError) as caught:
        calculate("personal_injury", {"case": "disability", "age": 40}, figures, today=TODAY)
    assert caught.value.field == "disability_grade"


def test_dependants_living_costs(figures: Figures) -> None:
    # art. 17: a child of 16 (2 years) and a parent of 70 (20 − 10 = 10 years), each shared by 2 supporters:
    # 15,000 each a year; years 1-2 30,000 (at the 30,000 cap), years 3-10 15,000: 60,000 + 120,000
    # death at 40: 50,000 × 20 + 6 × 10,000 + 180,000
    assert calc(figures, "personal_injury", case="death", age=40, dependant_ages="16, 70",
                co_supporters=2) == Decimal("1240000.00")
    # one supporter: two dependants of 30,000 a year capped at 30,000 for 2 years, then 30,000 for 8
    assert calc(figures, "personal_injury", case="death", age=40, dependant_ages=[16, 70]) == Decimal("1360000.00")
    # disability grade 5 (60%): 50,000 × 20 × 60% + a 10-year-old's 8 × 30,000 × 60%
    assert calc(figures, "personal_injury", case="disability", age=40, disability_grade=5,
                dependant_ages="10岁") == Decimal("744000.00")


# ---- litigation fees (诉讼费用交纳办法 arts. 13, 15, 16) -------------------------------------------

@pytest.mark.parametrize(("claim", "fee"), [
    (5_000, "50.00"),            # art. 13 (1) 1: up to 10,000, 50
    (10_000, "50.00"),
    (100_000, "2300.00"),        # + 90,000 × 2.5%
    (200_000, "4300.00"),        # + 100,000 × 2%
    (500_000, "8800.00"),        # + 300,000 × 1.5%
    (1_000_000, "13800.00"),     # + 500,000 × 1%
    (2_000_000, "22800.00"),     # + 1,000,000 × 0.9%
    (5_000_000, "46800.00"),     # + 3,000,000 × 0.8%
    (10_000_000, "81800.00"),    # + 5,000,000 × 0.7%
    (20_000_000, "141800.00"),   # + 10,000,000 × 0.6%
    (30_000_000, "191800.00"),   # + 10,000,000 × 0.5%
    (10_001, "50.03"),           # 50 + 1 × 2.5% = 50.025, rounded half up
])
def test_litigation_fee_tiers(figures: Figures, claim: int, fee: str) -> None:
    assert calc(figures, "litigation_fee", claim_amount=claim) == Decimal(fee)


def test_litigation_fee_halving_and_labour(figures: Figures) -> None:
    # art. 16 (simplified) and art. 15 (settled or withdrawn): half of 2,300
    assert calc(figures, "litigation_fee", claim_amount="10万", procedure="simplified") == Decimal("1150.00")
    result = calculate("litigation_fee", {"claim_amount": 100000, "procedure": "settled_or_withdrawn"}, figures)
    assert result.amount == Decimal("1150.00") and "诉讼费用交纳办法第十五条" in result.legal_basis
    # art. 13 (4): a labour dispute, 10 a case, whatever the amount
    assert calc(figures, "litigation_fee", case_type="labour") == Decimal("10.00")
    assert calc(figures, "litigation_fee", case_type="labour", procedure="simplified") == Decimal("5.00")


# ---- private loans (民间借贷规定 art. 25) ----------------------------------------------------------

def test_loan_interest_cap_uses_the_lpr_when_the_contract_was_made(figures: Figures) -> None:
    # art. 25: contract of 2023-07-01, LPR then 3.55%, cap 14.2%: 100,000 × 14.2% × 2 years
    result = calculate("loan_interest_cap", {"principal": "10万", "contract_date": "2023-07-01", "years": 2,
                                             "annual_rate_percent": 18}, figures, today=TODAY)
    assert result.amount == Decimal("28400.00")
    assert result.figures[0]["value"] == "3.55"
    assert any(s.amount == Decimal("7600") for s in result.steps)  # 36,000 agreed − 28,400 not supported
    # an agreed rate within the cap stands: 100,000 × 10% for a year
    assert calc(figures, "loan_interest_cap", principal=100000, annual_rate_percent=10,
                contract_date="2026-07-01") == Decimal("10000.00")
    # the LPR given by the citizen: 4 × 3.1% × 50,000
    assert calc(figures, "loan_interest_cap", principal=50000, lpr_percent="3.1") == Decimal("6200.00")


# ---- bad inputs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "inputs", "field"), [
    ("severance", {"years_of_service": 3, "monthly_wage": -1}, "monthly_wage"),
    ("severance", {"years_of_service": 3, "monthly_wage": "abc"}, "monthly_wage"),
    ("severance", {"monthly_wage": 8000}, "years_of_service"),
    ("severance", {"years_of_service": 0, "monthly_wage": 8000}, "years_of_service"),
    ("severance", {"years_of_service": 3, "monthly_wage": 8000, "bonus": 1}, "bonus"),
    ("severance", {"years_of_service": True, "monthly_wage": 8000}, "years_of_service"),
    ("injury_disability", {"grade": 11, "monthly_wage": 8000}, "grade"),
    ("injury_disability", {"grade": "7.5", "monthly_wage": 8000}, "grade"),
    ("personal_injury", {"case": "injury", "age": 30}, "case"),
    ("loan_interest_cap", {"principal": 1000, "contract_date": "2023-02-30"}, "contract_date"),
    ("nonsense", {}, "kind"),
])
def test_bad_inputs_name_the_field(figures: Figures, kind: str, inputs: dict, field: str) -> None:
    with pytest.raises(CalcError) as caught:
        calculate(kind, inputs, figures, today=TODAY)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ") and caught.value.message_zh


def test_a_missing_figure_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "figures.yml"
    path.write_text(FIGURES.split("  - {name: minimum_wage")[0], encoding="utf-8")
    with pytest.raises(CalcError) as caught:
        calculate("severance", {"years_of_service": 2, "monthly_wage": 8000}, path, today=TODAY)
    assert caught.value.field == "minimum_wage"
    # given by the citizen, it is not needed
    result = calculate("severance", {"years_of_service": 2, "monthly_wage": 8000, "minimum_wage": 2000}, path,
                       today=TODAY)
    assert result.amount == Decimal("16000.00")


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("money", "8000", Decimal(8000)), ("money", "8,000元", Decimal(8000)), ("money", "8千", Decimal(8000)),
    ("money", "1.2万", Decimal(12000)), ("money", "一万二", Decimal(12000)), ("money", "三千五百元", Decimal(3500)),
    ("years", "8年", Decimal(8)), ("years", "8年3个月", Decimal("8.25")), ("years", "一年半", Decimal("1.5")),
    ("months", "1年2个月", Decimal(14)), ("integer", "七级", 7), ("integer", "7级", 7), ("age", "61岁", 61),
])
def test_parse_value(kind: str, text: str, value: object) -> None:
    spec = next(s for specs in INPUTS.values() for s in specs if kind in (s.kind, s.name))
    assert parse_value(spec, text) == value


def test_every_kind_has_ordered_specs() -> None:
    assert KINDS == ("severance", "unlawful_termination", "double_wage", "overtime", "injury_disability",
                     "injury_death", "personal_injury", "litigation_fee", "loan_interest_cap")
    for specs in INPUTS.values():
        assert len({s.name for s in specs}) == len(specs)
        assert all(s.label_zh and s.label_en for s in specs)


def test_to_json_has_exact_keys_and_no_floats(figures: Figures) -> None:
    data = calculate("litigation_fee", {"claim_amount": 100000}, figures).to_json()
    assert set(data) == {"kind", "amount", "currency", "steps", "legal_basis", "assumptions", "figures", "warnings"}
    assert data["amount"] == "2300.00" and data["currency"] == "CNY"
    assert set(data["steps"][0]) == {"text_zh", "text_en", "amount", "basis"}
    assert "float" not in json.dumps(data, default=lambda o: type(o).__name__)


# ---- the figures file ---------------------------------------------------------------------------------

def test_the_shipped_figures_load_and_are_marked_as_examples() -> None:
    shipped = load_figures(DEFAULT_FIGURES)
    assert all(f.example for f in shipped.items if f.name != "lpr_1y")
    result = calculate("injury_death", {}, today=TODAY)
    assert result.figures and all(f["example"] for f in result.figures)
    assert any("示例" in w.zh for w in result.warnings)


def test_figures_errors_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "figures.yml"
    path.write_text("""\
figures:
  - {name: avg_wage, area: 测试市, year: 2025, value: 100, unit: 元/月, effective: 2026-07-01, source: x, example: false}
  - {name: minimum_wage, area: 测试市, year: 2025, value: -3, unit: 元/月, effective: July, source: x, example: maybe}
  - {name: lpr_1y, area: 全国, year: 2025, value: 3, unit: "%", effective: 2025-05-20, source: x, example: false}
  - {name: lpr_1y, area: 全国, year: 2025, value: 3, unit: "%", effective: 2025-05-20, source: x, example: false}
  - {name: lpr_1y, area: 全国, value: 3, unit: "%", effective: 2025-06-20, source: x, example: false}
""", encoding="utf-8")
    with pytest.raises(FiguresError) as caught:
        load_figures(path)
    lines = str(caught.value).splitlines()
    assert all(line.startswith("figures.yml: ") for line in lines)
    text = str(caught.value)
    for problem in ("default_area", "figure 1 (avg_wage): name: unknown figure", "figure 2 (minimum_wage): value",
                    "figure 2 (minimum_wage): effective", "figure 2 (minimum_wage): example",
                    "lpr_1y 全国 2025-05-20: entered twice", "figure 5 (lpr_1y): missing year"):
        assert problem in text, text


def test_figures_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "figures.yml"
    path.write_text("figures: [", encoding="utf-8")
    with pytest.raises(FiguresError, match=r"^figures.yml: cannot read"):
        load_figures(path)
    with pytest.raises(FiguresError, match="cannot read"):
        load_figures(tmp_path / "absent.yml")


def test_newest_figure_in_effect_and_staleness(figures: Figures) -> None:
    assert figures.pick("avg_monthly_wage", dt.date(2026, 6, 30)).value == 9000  # type: ignore[union-attr]
    assert figures.pick("avg_monthly_wage", dt.date(2026, 7, 1)).value == 10000  # type: ignore[union-attr]
    assert figures.pick("avg_monthly_wage", dt.date(2025, 1, 1)) is None
    # a year and more after the newest average wage took effect, a newer one may be out: warned
    result = calculate("injury_death", {}, figures, today=dt.date(2027, 7, 3))
    assert any("avg_monthly_wage" in w.en and "more than a year" in w.en for w in result.warnings)
    # the 2023 LPR is superseded by a later entry but is the right one for a 2023 contract: no warning
    assert calc(figures, "loan_interest_cap", principal=1000, contract_date="2023-07-01") == Decimal("142.00")


# ---- the command ----------------------------------------------------------------------------------------

@pytest.fixture
def figures_file(tmp_path: Path) -> Path:
    path = tmp_path / "figures.yml"
    path.write_text(FIGURES, encoding="utf-8")
    return path


def test_cli_json_lines(figures_file: Path) -> None:
    lines = '{"claim_amount": 100000}\n{"claim_amount": -5}\nnot json\n\n{"claim_amount": 1.2, "procedure": "simplified"}\n'
    result = CliRunner().invoke(app, ["calc", "litigation_fee", "--json", "--figures", str(figures_file)], input=lines)
    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("amount") for o in objects] == ["2300.00", None, None, "25.00"]
    assert objects[1] == {"error": "claim_amount: must not be negative", "field": "claim_amount"}
    assert objects[2]["field"] == "input"


def test_cli_readable_result(figures_file: Path) -> None:
    result = CliRunner().invoke(app, ["calc", "severance", "years_of_service=8年6个月", "monthly_wage=8千",
                                      "--figures", str(figures_file)])
    assert result.exit_code == 0, result.output
    assert "72,000.00 CNY" in result.stdout and "劳动合同法第四十七条" in result.stdout


def test_cli_unknown_kind_lists_the_kinds(figures_file: Path) -> None:
    result = CliRunner().invoke(app, ["calc", "alimony", "--figures", str(figures_file)])
    assert result.exit_code == 2
    assert "severance" in result.output and "loan_interest_cap" in result.output


def test_cli_bad_figures_file(tmp_path: Path) -> None:
    path = tmp_path / "figures.yml"
    path.write_text("figures: []\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["calc", "severance", "--figures", str(path)], input="{}\n")
    assert result.exit_code == 1 and "figures.yml" in result.output


def test_cli_figures_from_the_setting(figures_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("LEGALBOT_CALCULATOR_FIGURES", str(figures_file))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["calc", "injury_death", "--json"], input="{}\n")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["amount"] == "1060000.00"  # 6 × 10,000 + 20 × 50,000 (test figures)
