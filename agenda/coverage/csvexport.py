"""CSV exports (semicolon-separated, UTF-8 with BOM, decimal comma: what French
spreadsheets open directly).

Two headers for the same rows: French column names for people (the default), or the
machine codes with ``&technique=1`` (the "technique" export, for scripts and re-imports;
its file name ends in ``-technique.csv``). Cells are the same in both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from flask import Response, request

from agenda import labels


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


def technical() -> bool:
    """Whether the request asks for the "technique" export (machine-code headers)."""
    return request.args.get("technique", "") not in ("", "0")


def to_csv(rows: Iterable[dict], columns: Sequence[str], *, codes: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns if codes else [labels.label(c, "column") for c in columns])
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue()


def csv_response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    """The CSV download: French headers, or machine codes for the "technique" export."""
    codes = technical()
    if codes:
        filename = filename.removesuffix(".csv") + "-technique.csv"
    body = "\ufeff" + to_csv(rows, columns, codes=codes)
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
