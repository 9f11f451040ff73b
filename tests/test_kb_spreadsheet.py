"""CSV and XLSX round trips for legal editors, with the same validation as `kb validate`."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from bot.settings import Settings
from knowledge_base.faq import load_entries
from knowledge_base.spreadsheet import ImportError_, export, import_sheet, read_rows

FAQ = Settings().faq_dir


def _write_csv(sheet: Path, rows: list[dict[str, str]]) -> None:
    with sheet.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    target = tmp_path / "faq"
    shutil.copytree(FAQ, target)
    return target


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip_changes_nothing(faq: Path, tmp_path: Path, suffix: str) -> None:
    before = {e.id: e.public() for e in load_entries(faq)}
    sheet = tmp_path / f"faq{suffix}"
    export(list(load_entries(faq)), sheet)
    report, _ = import_sheet(sheet, faq, None)
    assert report.errors == []
    after = {e.id: e.public() for e in load_entries(faq)}
    assert after == before


def test_an_edit_in_the_sheet_lands_in_the_right_file(faq: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "faq.csv"
    export(load_entries(faq), sheet)
    rows = read_rows(sheet)
    target = next(r for r in rows if r["id"] == "labor-unpaid-wages")
    target["answer"] = target["answer"] + "\n6. 也可拨打12333咨询。"
    new = dict(target, id="labor-new-entry", question="工资条可以要求单位提供吗？",
               paraphrases="单位不给工资条\n工资条能不能要\n没有工资条咋证明工资\n公司说工资条保密")
    _write_csv(sheet, [target, new])  # a sheet may carry only the changed rows
    report, written = import_sheet(sheet, faq, None)
    assert report.errors == [] and set(written) == {"labor.yml"}
    entries = {e.id: e for e in load_entries(faq)}
    assert entries["labor-unpaid-wages"].answer.endswith("12333咨询。")
    assert entries["labor-new-entry"].source == "labor.yml"
    assert len(entries) == len(load_entries(FAQ)) + 1


def test_a_repealed_law_in_the_sheet_imports_nothing(faq: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "faq.csv"
    export(load_entries(faq)[:3], sheet)
    rows = read_rows(sheet)
    rows[0]["legal_basis"] = "合同法 第107条"
    _write_csv(sheet, rows)
    before = {p.name: p.read_bytes() for p in faq.iterdir()}
    report, written = import_sheet(sheet, faq, None)
    assert any("repealed" in e for e in report.errors) and written == {}
    assert {p.name: p.read_bytes() for p in faq.iterdir()} == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,service\nx,consultation\n", "missing columns"),
        ("", "empty"),
    ],
)
def test_malformed_sheets_are_clear_errors(faq: Path, tmp_path: Path, content: str, message: str) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text(content, encoding="utf-8")
    with pytest.raises(ImportError_, match=message):
        import_sheet(sheet, faq, None)


def test_bad_cells_name_the_row(faq: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "faq.csv"
    export(load_entries(faq)[:2], sheet)
    rows = read_rows(sheet)
    rows[1]["service"] = "astrology"
    _write_csv(sheet, rows)
    with pytest.raises(ImportError_, match="row 3.*unknown service"):
        import_sheet(sheet, faq, None)


def test_not_a_spreadsheet(tmp_path: Path, faq: Path) -> None:
    (tmp_path / "x.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportError_, match="not a readable XLSX"):
        import_sheet(tmp_path / "x.xlsx", faq, None)
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(ImportError_, match="csv or .xlsx"):
        import_sheet(tmp_path / "x.txt", faq, None)
