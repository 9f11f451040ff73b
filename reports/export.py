"""The report's rows as CSV, XLSX or JSON: the same columns (reports/metrics.py COLUMNS) in every format, so a
spreadsheet a clerk built on last month's export still fits this month's."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from reports.metrics import COLUMNS

FORMATS = ("csv", "xlsx", "json")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "json": "application/json"}
#: Rates are fractions (0.4213); a spreadsheet shows them as percentages.
RATES = {c for c in COLUMNS if c.endswith("_rate")}


class ExportError(ValueError):
    pass


def render(rows: Sequence[dict[str, Any]], fmt: str, by: str, meta: dict[str, Any] | None = None) -> bytes:
    """The rows in ``fmt``; the first column is named after the breakdown (date, service …)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use csv, xlsx or json")
    first = "date" if by == "day" else by
    header = [first, *COLUMNS[1:]]
    table = [[row["key"], *(row[c] for c in COLUMNS[1:])] for row in rows]
    if fmt == "json":
        return json.dumps({**(meta or {}), "by": by, "rows": [dict(zip(header, values, strict=True)) for values in table]},
                          ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in values] for values in table])
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens Chinese CSV correctly
    return _xlsx(header, table, meta or {})


def _xlsx(header: list[str], table: list[list[Any]], meta: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "report"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for values in table:
        ws.append(values)
    for index, name in enumerate(header, 1):
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = max(10, len(name) + 2)
        if name in RATES:
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.0%"
    ws.freeze_panes = "B2"
    if meta:
        about = wb.create_sheet("about")
        for key, value in meta.items():
            about.append([key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
