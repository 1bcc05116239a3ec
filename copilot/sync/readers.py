"""Streaming readers: CSV, XLSX and JSONL (and a JSON array) → one row at a time, with its row number.

Nothing reads a whole file into memory (a JSON array, which cannot be streamed without a parser we do
not ship, is the one exception: use JSONL for big files). A row that is cut short — a file that stops
half-way, a broken JSON line — comes out as a row with an error, so the report names it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copilot.core.errors import BadRequest

FORMATS = {".csv": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "json"}


@dataclass(frozen=True)
class SourceRow:
    row: int  # as a person finds it: the line in CSV/JSONL (header = line 1), the sheet row in XLSX
    values: dict[str, Any] | None
    error: str | None = None


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadRequest(f"{path.name}: unsupported file type {path.suffix!r} (use .csv, .xlsx, .jsonl or .json)")
    return fmt


def count_rows(path: Path) -> int | None:
    """Rows to expect, for the progress bar (cheap: a byte scan; XLSX reports its own dimension)."""
    fmt = file_format(path)
    if fmt in ("csv", "jsonl"):
        with path.open("rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        return max(0, lines - (1 if fmt == "csv" else 0))
    return None


def read_rows(path: Path) -> Iterator[SourceRow]:
    fmt = file_format(path)
    if not path.is_file():
        raise BadRequest(f"{path}: no such file")
    if fmt == "csv":
        yield from _csv(path)
    elif fmt == "xlsx":
        yield from _xlsx(path)
    elif fmt == "jsonl":
        yield from _jsonl(path)
    else:
        yield from _json(path)


def header_of(path: Path) -> list[str] | None:
    """The column names of a tabular file (None for JSON files, whose rows name their own fields)."""
    fmt = file_format(path)
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [h.strip() for h in next(csv.reader(fh, delimiter=_delimiter(path)), [])]
    if fmt == "xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            first = next(wb.worksheets[0].iter_rows(max_row=1, values_only=True), ())
            return [str(h).strip() if h is not None else "" for h in first]
        finally:
            wb.close()
    return None


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _csv(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=_delimiter(path))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        width = len(header)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield SourceRow(reader.line_num, None, f"unreadable CSV ({exc}): the file may stop half-way here")
                return
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                yield SourceRow(reader.line_num, None,
                                f"row has {len(cells)} of {width} columns: the file may stop half-way here"
                                if len(cells) < width else f"row has {len(cells)} columns, the header {width}")
                continue
            yield SourceRow(reader.line_num, dict(zip(header, cells, strict=True)))


def _xlsx(path: Path) -> Iterator[SourceRow]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a zip cut short, not a workbook: openpyxl raises several kinds
        raise BadRequest(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from exc
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for number, cells in enumerate(rows, 2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            values = dict(zip(header, cells, strict=False))
            yield SourceRow(number, {k: v for k, v in values.items() if k})
    finally:
        wb.close()


def _jsonl(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield SourceRow(number, None, f"not valid JSON ({exc.msg}): the file may stop half-way here")
                continue
            if not isinstance(obj, dict):
                yield SourceRow(number, None, "each line must be one JSON object")
                continue
            yield SourceRow(number, obj)


def _json(path: Path) -> Iterator[SourceRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{path.name}: not valid JSON at line {exc.lineno} ({exc.msg}); "
                         "the file may stop half-way") from exc
    if isinstance(data, dict):
        # A WeCom archive page is {"errcode": 0, "chatdata": [...]}; others wrap rows in "records".
        keys = ("chatdata", "records", "messages", "data")
        data = next((data[k] for k in keys if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise BadRequest(f"{path.name}: expected a JSON array of objects (or JSONL, one object a line)")
    for number, obj in enumerate(data, 1):
        yield SourceRow(number, obj if isinstance(obj, dict) else None,
                        None if isinstance(obj, dict) else "each element must be a JSON object")
