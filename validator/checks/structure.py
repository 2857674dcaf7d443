"""Structured data parses: CSV, JSON, JSON Lines, Parquet (pyarrow), with a row/column summary."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections import Counter
from typing import Any

from .base import Content, Result, Thresholds
from .filetype import guess_delimiter, has_header

MAX_JSON_BYTES = 256 * 1024 * 1024  # larger JSON documents are not parsed whole
MAX_CSV_ROWS = 2_000_000


def _text_stream(content: Content) -> io.TextIOBase:
    raw = content.open()  # closed with the wrapper
    head = raw.read(4)
    raw.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(raw, encoding="utf-16", errors="replace", newline="")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def structured_data(content: Content, fmt: str, *, thresholds: Thresholds | None = None) -> Result:
    """parse_error when a CSV, JSON, JSON Lines or Parquet file does not parse (with where);
    otherwise the figures rows, columns (and names) for the other checks and the verdict."""
    t = thresholds or Thresholds()
    try:
        if fmt == "csv":
            return _csv(content, t)
        if fmt == "json":
            return _json(content)
        if fmt == "jsonl":
            return _jsonl(content)
        if fmt == "parquet":
            return _parquet(content)
    except _ParseError as exc:
        return Result("structure", "parse_error", False, f"the {fmt.upper()} does not parse: {exc}", {"format": fmt})
    return Result("structure", "ok", True, "", {"format": fmt})


class _ParseError(Exception):
    pass


def _summary(fmt: str, rows: int, columns: list[str] | int, **extra: Any) -> Result:
    names = columns if isinstance(columns, list) else []
    n = len(columns) if isinstance(columns, list) else columns
    figures = {"format": fmt, "rows": rows, "columns": n, "column_names": names[:50], **extra}
    label = {"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines", "parquet": "Parquet"}[fmt]
    return Result(
        "structure", "ok", True, f"{label}, {rows} row{'s' * (rows != 1)} × {n} column{'s' * (n != 1)}", figures
    )


def _csv(content: Content, t: Thresholds) -> Result:
    sample = content.text[:65536]
    lines = [line for line in sample.splitlines() if line.strip()][:20]
    delimiter = guess_delimiter(lines) or ","
    header_expected = has_header(list(csv.reader(lines, delimiter=delimiter)))
    widths: Counter[int] = Counter()
    header: list[str] = []
    rows = 0
    with _text_stream(content) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if header_expected and not header:
                    header = row
                    continue
                rows += 1
                widths[len(row)] += 1
                if rows >= MAX_CSV_ROWS:
                    break
        except csv.Error as exc:
            raise _ParseError(f"line {reader.line_num}: {exc}") from None
    usual = widths.most_common(1)[0][0] if widths else len(header)
    ragged = rows - widths.get(usual, 0)
    if rows and ragged / rows > t.ragged_share:
        raise _ParseError(f"{ragged} of {rows} rows do not have the usual {usual} columns")
    columns = header if header else usual
    return _summary("csv", rows, columns, header=bool(header), ragged_rows=ragged)


def _json(content: Content) -> Result:
    if content.size > MAX_JSON_BYTES:
        return Result("structure", "ok", True, "JSON (too large to parse whole)", {"format": "json", "rows": None})
    with _text_stream(content) as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise _ParseError(f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(doc, list):
        keys: dict[str, None] = {}
        for item in doc[:1000]:
            if isinstance(item, dict):
                keys.update(dict.fromkeys(item))
        return _summary("json", len(doc), list(keys), top_level="array")
    if isinstance(doc, dict):
        return _summary("json", 1 if doc else 0, list(doc), top_level="object")
    return _summary("json", 0 if doc in (None, "") else 1, 0, top_level=type(doc).__name__)


def _jsonl(content: Content) -> Result:
    rows, keys = 0, {}
    with _text_stream(content) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _ParseError(f"line {number}: {exc.msg}") from None
            rows += 1
            if isinstance(item, dict) and rows <= 1000:
                keys.update(dict.fromkeys(item))
    return _summary("jsonl", rows, list(keys))


def _parquet(content: Content) -> Result:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(content.open())
        meta = pf.metadata
        if meta.num_row_groups:
            pf.read_row_group(0)  # the data pages decode, not only the footer
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for broken files
        raise _ParseError(str(exc).splitlines()[0][:200]) from None
    return _summary("parquet", meta.num_rows, list(pf.schema_arrow.names), row_groups=meta.num_row_groups)
