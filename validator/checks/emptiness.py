"""Near-empty content: too few meaningful bytes, or structured data without a data row."""

from __future__ import annotations

from .base import Content, Result, Thresholds

_WHITESPACE = b" \t\r\n\x0b\x0c"


def near_empty(content: Content, structure: Result | None = None, *, thresholds: Thresholds | None = None) -> Result:
    """near_empty when the file has fewer than `min_bytes` non-whitespace bytes (a one-byte
    newline CSV), or its structure check counted 0 data rows."""
    t = thresholds or Thresholds()
    head = content.head
    meaningful = len(head.translate(None, _WHITESPACE + b"\xef\xbb\xbf"))
    if not content.complete:
        meaningful = max(meaningful, t.min_bytes)  # 8 MiB of whitespace would still be counted above
    rows = (structure.figures.get("rows") if structure else None) if structure and structure.passed else None
    figures = {"non_whitespace_bytes": meaningful, "min_bytes": t.min_bytes, "rows": rows}
    if meaningful < t.min_bytes:
        return Result(
            "emptiness",
            "near_empty",
            False,
            f"the file holds {meaningful} non-whitespace byte{'s' * (meaningful != 1)}; at least {t.min_bytes} are needed",
            figures,
        )
    if rows == 0 and structure is not None:  # rows is counted only with a structure result
        fmt = structure.figures.get("format", "")
        return Result("emptiness", "near_empty", False, f"the {fmt.upper()} has no data rows", figures)
    return Result("emptiness", "ok", True, "", figures)
