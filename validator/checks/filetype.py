"""What the bytes are, against what the contributor declared (file name and MIME type)."""

from __future__ import annotations

import csv
import json
import os
import re

from .base import Content, Result

TEXT_FORMATS = frozenset({"csv", "json", "jsonl", "text"})
EXECUTABLE = frozenset({"elf", "pe", "macho", "wasm"})

# (offset, magic, kind): the first match wins.
MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"%PDF-", "pdf"),
    (0, b"PAR1", "parquet"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (0, b"\x7fELF", "elf"),
    (0, b"MZ", "pe"),
    (0, b"\xfe\xed\xfa\xce", "macho"),
    (0, b"\xfe\xed\xfa\xcf", "macho"),
    (0, b"\xce\xfa\xed\xfe", "macho"),
    (0, b"\xcf\xfa\xed\xfe", "macho"),
    (0, b"\xca\xfe\xba\xbe", "macho"),
    (0, b"\x00asm", "wasm"),
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"ID3", "mp3"),
    (257, b"ustar", "tar"),
]

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "text",
    ".md": "text",
    ".parquet": "parquet",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".gif": "gif",
    ".webp": "webp",
    ".pdf": "pdf",
    ".zip": "zip",
    ".gz": "gzip",
    ".tgz": "gzip",
    ".bz2": "bzip2",
    ".xz": "xz",
    ".zst": "zstd",
    ".7z": "7z",
    ".rar": "rar",
    ".tar": "tar",
    ".sqlite": "sqlite",
    ".db": "sqlite",
    ".wav": "wav",
    ".mp3": "mp3",
    ".ogg": "ogg",
    ".flac": "flac",
    ".mp4": "mp4",
}

MIME = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/plain": "text",
    "text/markdown": "text",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-tar": "tar",
    "application/vnd.sqlite3": "sqlite",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "video/mp4": "mp4",
}


def _is_binary(head: bytes) -> bool:
    sample = head[:65536]
    if not sample:
        return False
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 text with a BOM
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.01


def sniff(head: bytes) -> str:
    """The kind of content these leading bytes start: a binary format from its magic number,
    else 'binary', else a text format ('json', 'jsonl', 'csv', 'text')."""
    for offset, magic, kind in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"WEBP"):
        return "wav" if head[8:12] == b"WAVE" else "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    if _is_binary(head):
        return "binary"
    text = _decode(head[:262144])
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        return "text"
    lines = [line for line in stripped.splitlines() if line.strip()][:50]
    if stripped[0] in "{[":
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass
        if lines and all(_json_line(line) for line in lines[:-1] or lines):
            return "jsonl"
    delimiter = guess_delimiter(lines[:20])
    if delimiter is not None:
        widths = {len(row) for row in csv.reader(lines[:20], delimiter=delimiter)}
        if len(widths) == 1 and widths.pop() >= 2:
            return "csv"
    return "text"


DELIMITERS = (",", "\t", ";", "|")
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?%?$")
_NAME = re.compile(r"^[A-Za-z_][\w .()/-]*$")


def guess_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits every one of these lines into the same number (≥ 2) of fields
    (the first of , TAB ; | that does); None when none does. Much faster than csv.Sniffer."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    for delimiter in DELIMITERS:
        if delimiter not in lines[0]:
            continue
        widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(widths) == 1 and widths.pop() >= 2:
            return delimiter
    return None


def has_header(rows: list[list[str]]) -> bool:
    """A first row of names (no numbers) above rows that hold at least one number, or above
    rows that never repeat it: the usual shape of a CSV header."""
    if len(rows) < 2 or not rows[0]:
        return False
    first = [cell.strip() for cell in rows[0]]
    if any(_NUMBER.match(cell) for cell in first) or not all(_NAME.match(cell) for cell in first if cell):
        return False
    later = rows[1:20]
    if any(_NUMBER.match(cell.strip()) for row in later for cell in row):
        return True
    return all([cell.strip() for cell in row] != first for row in later) and len(set(first)) == len(first)


def _json_line(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def declared_kind(name: str, declared_type: str) -> tuple[str | None, str]:
    """(kind, where the claim comes from) from the file name, else the MIME type; (None, '')
    when neither says anything specific (application/octet-stream, no extension)."""
    ext = os.path.splitext(name.lower())[1]
    if ext in EXTENSIONS:
        return EXTENSIONS[ext], f"the name {name!r}"
    mime = declared_type.split(";", 1)[0].strip().lower()
    if mime in MIME:
        return MIME[mime], f"the type {mime}"
    return None, ""


def compatible(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    if declared in TEXT_FORMATS and sniffed in TEXT_FORMATS:
        # a one-column CSV sniffs as text, JSON Lines declared as .json, a .txt holding CSV
        return declared == "text" or sniffed == "text" or {declared, sniffed} == {"json", "jsonl"}
    return False


def file_type(content: Content) -> Result:
    """type_mismatch when the bytes contradict the declared name or type; executable_content
    for native or wasm executables whatever the declaration. Figures: sniffed, declared and
    the format the other checks read the file as."""
    sniffed = sniff(content.head)
    declared, source = declared_kind(content.name, content.declared_type)
    fmt = sniffed
    if sniffed == "text" and declared in TEXT_FORMATS:
        fmt = declared  # read a one-column .csv as CSV, a broken .json as JSON (and say why it fails)
    figures = {"sniffed": sniffed, "declared": declared, "format": fmt}
    if sniffed in EXECUTABLE:
        return Result("type", "executable_content", False, f"the file is executable code ({sniffed})", figures)
    if declared is not None and not compatible(declared, sniffed):
        what = "binary data" if sniffed == "binary" else f"{sniffed} data"
        return Result("type", "type_mismatch", False, f"{source} says {declared}, but the bytes are {what}", figures)
    return Result("type", "ok", True, "", figures)
