"""CSV exports (semicolon-separated, UTF-8 with BOM, decimal comma: what French
spreadsheets open directly)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from flask import Response


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, Decimal)):
        return f"{value}".replace(".", ",")  # numbers, negative ones included, stay numbers
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text  # shown as text, never evaluated
    return text


def parse_cell(text: str):
    """The inverse of :func:`cell` for numbers (used by tests and re-imports)."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue()


def csv_response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    body = "\ufeff" + to_csv(rows, columns)
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
