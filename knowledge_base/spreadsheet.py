"""CSV and XLSX import/export of the FAQ, for legal editors who do not use git.

Export writes one row per entry. Import reads such a sheet back, checks every row with the same
validation as `legalbot kb validate`, and only if nothing is wrong rewrites the YAML files: an
entry stays in the file it came from, a new one goes to the file of its service (or topic, for
general consultations; English entries to english.yml). A sheet with an error changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot import yamlio
from bot.taxonomy import Service
from knowledge_base.faq import Entry, FAQError, load_entries, parse_entry
from knowledge_base.validate import Report, validate

COLUMNS = ["id", "service", "topic", "lang", "question", "paraphrases", "answer", "legal_basis", "next_step",
           "last_reviewed"]
_CITATION = re.compile(r"^(?P<law>.+?)\s*(第(?P<article>\d+)条)?$")


class ImportError_(ValueError):
    """The sheet cannot be imported; the message names the row and the problem."""


def _basis_cell(entry: Entry) -> str:
    return "; ".join(f"{c.law} 第{c.article}条" if c.article is not None else c.law for c in entry.legal_basis)


def to_rows(entries: Sequence[Entry]) -> list[dict[str, str]]:
    return [{
        "id": e.id, "service": e.service.value, "topic": e.topic.value, "lang": e.lang, "question": e.question,
        "paraphrases": "\n".join(e.paraphrases), "answer": e.answer, "legal_basis": _basis_cell(e),
        "next_step": e.next_step, "last_reviewed": e.last_reviewed.isoformat(),
    } for e in entries]


def export(entries: Sequence[Entry], path: Path) -> None:
    rows = to_rows(entries)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font

        wb = Workbook()
        ws = wb.active
        ws.title = "faq"
        ws.append(COLUMNS)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([row[c] for c in COLUMNS])
        for column, width in zip("ABCDEFGHIJ", (28, 16, 16, 6, 30, 40, 60, 40, 40, 12), strict=True):
            ws.column_dimensions[column].width = width
        for row_cells in ws.iter_rows(min_row=2):
            for cell in row_cells:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "B2"
        wb.save(path)
    elif path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel opens Chinese CSV correctly
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        raise ImportError_(f"{path}: use a .csv or .xlsx file")


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise ImportError_(f"{path}: no such file")
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ImportError_(f"{path}: not a readable XLSX file ({type(exc).__name__})") from exc
        values = [["" if v is None else str(v) for v in row] for row in wb.active.iter_rows(values_only=True)]
        wb.close()
    elif path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8-sig", errors="strict")
        values = list(csv.reader(io.StringIO(text)))
    else:
        raise ImportError_(f"{path}: use a .csv or .xlsx file")
    if not values:
        raise ImportError_(f"{path}: the sheet is empty")
    header = [h.strip() for h in values[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportError_(f"{path}: missing columns {', '.join(missing)}")
    return [dict(zip(header, row, strict=False)) for row in values[1:] if any(cell.strip() for cell in row)]


def _parse_basis(cell: str, where: str) -> list[dict[str, Any]]:
    out = []
    for part in re.split(r"[;；\n]+", cell or ""):
        part = part.strip()
        if not part:
            continue
        m = _CITATION.match(part)
        if not m:
            raise ImportError_(f"{where}: cannot read legal basis {part!r} (write e.g. 劳动合同法 第30条)")
        article = m.group("article")
        law = m.group("law").strip()
        if law.startswith("《") and law.endswith("》") and law.count("《") == 1:
            law = law[1:-1]
        out.append({"law": law, "article": int(article) if article else None})
    return out


def parse_rows(rows: Sequence[dict[str, str]], source: str) -> list[Entry]:
    entries = []
    for number, row in enumerate(rows, start=2):
        where = f"{source} row {number}"
        raw = {
            "id": row.get("id", "").strip(), "service": row.get("service", "").strip(),
            "topic": row.get("topic", "").strip(), "lang": row.get("lang", "").strip() or "zh",
            "question": row.get("question", "").strip(),
            "paraphrases": [p.strip() for p in (row.get("paraphrases") or "").splitlines() if p.strip()],
            "answer": (row.get("answer") or "").strip(), "legal_basis": _parse_basis(row.get("legal_basis", ""), where),
            "next_step": (row.get("next_step") or "").strip(), "last_reviewed": (row.get("last_reviewed") or "").strip()[:10],
        }
        try:
            entries.append(parse_entry(raw, where))
        except FAQError as exc:
            raise ImportError_(str(exc)) from None
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ImportError_(f"{source}: ids appear more than once: {', '.join(duplicates)}")
    return entries


def _home_file(entry: Entry) -> str:
    if entry.lang == "en":
        return "english.yml"
    slug = entry.service.value if entry.service is not Service.consultation else entry.topic.value
    return f"{slug}.yml"


class _Dumper(yamlio.Dumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _date(dumper: yaml.SafeDumper, value: dt.date) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


_Dumper.add_representer(str, _str)
_Dumper.add_representer(dt.date, _date)


def _entry_yaml(entry: Entry) -> dict[str, Any]:
    data = entry.public()
    data["last_reviewed"] = entry.last_reviewed
    data["answer"] = entry.answer + ("\n" if "\n" in entry.answer else "")
    data["legal_basis"] = [{k: v for k, v in c.items() if v is not None} for c in data["legal_basis"]]
    return data


def import_sheet(path: Path, faq_dir: Path, statutes_dir: Path | None, today: dt.date | None = None
                 ) -> tuple[Report, dict[str, int]]:
    """Validate the sheet as a whole knowledge base; write the YAML files only if there is no error.

    Entries not in the sheet are kept (a sheet may hold only the rows an editor changed).
    Returns the validation report and, per file, how many entries were written.
    """
    incoming = parse_rows(read_rows(path), path.name)
    current = load_entries(faq_dir)
    home = {e.id: e.source for e in current}
    merged = {e.id: e for e in current}
    merged.update({e.id: e for e in incoming})
    report = validate(list(merged.values()), statutes_dir, today=today)
    if report.errors:
        return report, {}
    by_file: dict[str, list[Entry]] = defaultdict(list)
    order = [e.id for e in current] + [e.id for e in incoming if e.id not in home]
    for entry_id in order:
        entry = merged[entry_id]
        by_file[home.get(entry_id) or _home_file(entry)].append(entry)
    changed = {e.id for e in incoming}
    written: dict[str, int] = {}
    for name, entries in by_file.items():
        if not any(e.id in changed for e in entries):
            continue
        text = yaml.dump([_entry_yaml(e) for e in entries], Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                         width=1000, indent=2)
        (faq_dir / name).write_text(text, encoding="utf-8")
        written[name] = len(entries)
    return report, written
