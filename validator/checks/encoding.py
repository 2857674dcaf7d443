"""Text encoding: valid UTF-8 (or UTF-16 with its BOM), no binary bytes inside the text."""

from __future__ import annotations

import codecs

from .base import Content, Result
from .filetype import TEXT_FORMATS

MAX_CONTROL_SHARE = 0.001  # NUL and other C0 control bytes (not tab/newline/CR/FF/ESC)


def _control_share(data: bytes) -> tuple[int, float]:
    control = sum(data.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13, 27))
    return control, (control / len(data) if data else 0.0)


def text_encoding(content: Content, fmt: str, declared: str | None = None) -> Result:
    """For text formats (sniffed or declared): encoding_invalid when the bytes are not UTF-8
    (or BOM-marked UTF-16), binary_in_text when NUL/control bytes exceed 0.1 %. A UTF-8 BOM is
    a note (utf8_bom), not a failure. Other formats: not applicable (ok)."""
    if fmt not in TEXT_FORMATS and declared not in TEXT_FORMATS:
        return Result("encoding", "ok", True, "", {"applies": False})
    data = content.head
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        try:
            codecs.getincrementaldecoder(codec)().decode(data[2:], final=content.complete)
        except UnicodeDecodeError as exc:
            return Result("encoding", "encoding_invalid", False, f"invalid UTF-16 at byte {exc.start + 2}", {})
        return Result("encoding", "utf16_bom", True, "UTF-16 text with a byte-order mark", {"encoding": "utf-16"})
    control, share = _control_share(data)
    figures = {"encoding": "utf-8", "bom": data.startswith(codecs.BOM_UTF8), "control_bytes": control}
    if share > MAX_CONTROL_SHARE:
        return Result(
            "encoding",
            "binary_in_text",
            False,
            f"{control} binary (NUL or control) bytes in what should be text ({share:.1%} of it)",
            figures,
        )
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        decoder.decode(data, final=content.complete)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Result(
            "encoding",
            "encoding_invalid",
            False,
            f"not valid UTF-8 (byte {exc.start}, line {line}); save it as UTF-8",
            figures,
        )
    if figures["bom"]:
        return Result("encoding", "utf8_bom", True, "UTF-8 with a byte-order mark", figures)
    return Result("encoding", "ok", True, "", figures)
