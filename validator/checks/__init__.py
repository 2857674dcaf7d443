"""The node's checks. Each is one function taking what it needs and returning a `Result`:
a reason code a contributor can read, whether it passed, a sentence and its figures.

    integrity.hash_and_size      hash_mismatch / size_mismatch
    filetype.file_type           type_mismatch / executable_content
    encoding.text_encoding       encoding_invalid / binary_in_text (notes: utf8_bom, utf16_bom)
    structure.structured_data    parse_error (figures: format, rows, columns, header)
    emptiness.near_empty         near_empty
    pii.personal_data            pii (emails, phones, payment cards, IBANs, national ids)
    duplicates.near_duplicate    near_duplicate (MinHash over word shingles)

`run_all` runs them in that order on one downloaded file and `decide` turns the results into
the verdict: reject when any check failed, with every failed check's code and sentence in
the reason (`code: sentence; code: sentence`, at most 500 characters, the portal's limit)."""

from __future__ import annotations

from typing import Any

from .base import MAX_REASON, SAMPLE_BYTES, Content, Expected, Result, Thresholds
from .duplicates import near_duplicate
from .emptiness import near_empty
from .encoding import text_encoding
from .filetype import file_type
from .integrity import hash_and_size
from .pii import personal_data
from .structure import structured_data

__all__ = [
    "MAX_REASON",
    "SAMPLE_BYTES",
    "Content",
    "Expected",
    "Result",
    "Thresholds",
    "decide",
    "reason_codes",
    "run_all",
]


def run_all(
    content: Content, expected: Expected, *, index: Any = None, thresholds: Thresholds | None = None
) -> list[Result]:

    t = thresholds or Thresholds()
    results = [hash_and_size(content, expected)]
    if not results[0].passed:
        return results  # not the bytes the round is about: nothing else is worth checking
    kind = file_type(content)
    results.append(kind)
    fmt = kind.figures.get("format", "binary")
    results.append(text_encoding(content, fmt, kind.figures.get("declared")))
    structure = structured_data(content, fmt, thresholds=t)
    results.append(structure)
    results.append(near_empty(content, structure, thresholds=t))
    results.append(personal_data(content, fmt, thresholds=t))
    if index is not None:
        results.append(near_duplicate(content, fmt, index=index, owner=expected.owner, thresholds=t))
    return results


def decide(results: list[Result]) -> tuple[str, str]:
    """('approve', summary) when every check passed, else ('reject', 'code: sentence; …')."""
    failed = [r for r in results if not r.passed]
    if failed:
        return "reject", _fit("; ".join(f"{r.code}: {r.detail}" for r in failed))
    notes = [f"{r.code}: {r.detail}" for r in results if r.code != "ok" and r.detail]
    summary = next((r.detail for r in results if r.check == "structure" and r.detail), "")
    return "approve", _fit("; ".join(["ok" + (f": {summary}" if summary else ""), *notes]))


def reason_codes(reason: str) -> list[str]:
    """The codes in a reason written by `decide` (what a page or a test can look for)."""
    return [part.split(":", 1)[0].strip() for part in reason.split("; ") if ":" in part or part.strip() == "ok"]


def _fit(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
