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

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_BYTES = 8 * 1024 * 1024  # what the text checks read of a file (the hash covers all of it)
MAX_REASON = 500


@dataclass(frozen=True)
class Result:
    check: str
    code: str  # "ok" when nothing is worth saying; otherwise the reason code
    passed: bool
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Thresholds:
    min_bytes: int = 16  # fewer non-whitespace bytes than this: near_empty
    pii_share: float = 0.1  # this share of records (or more) holding personal data: pii
    pii_min_records: int = 1
    duplicate_jaccard: float = 0.8  # estimated Jaccard similarity at or above: near_duplicate
    ragged_share: float = 0.1  # CSV rows whose width differs from the usual one: parse_error above

    @classmethod
    def of(cls, values: dict[str, float] | None) -> Thresholds:
        known = {k: v for k, v in (values or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Content:
    """A downloaded file: where it is, what was measured while it arrived, and what the
    portal says about it (name and declared type are the contributor's claims)."""

    path: Path
    size: int
    sha256: str
    keccak256: str
    name: str = ""
    declared_type: str = ""
    _head: bytes | None = None

    @property
    def head(self) -> bytes:
        if self._head is None:
            with open(self.path, "rb") as fh:
                self._head = fh.read(SAMPLE_BYTES)
        return self._head

    @property
    def text(self) -> str:
        """`head` decoded: UTF-16 when it starts with its BOM, else UTF-8 (a UTF-8 BOM dropped),
        undecodable bytes replaced."""
        head = self.head
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace")
        return head.decode("utf-8", errors="replace").removeprefix("\ufeff")

    @property
    def complete(self) -> bool:
        """True when `head` is the whole file."""
        return self.size <= SAMPLE_BYTES

    @classmethod
    def from_bytes(cls, data: bytes, path: Path, *, name: str = "", declared_type: str = "") -> Content:
        """For tests and tools: write `data` to `path` and measure it."""
        import hashlib

        from Crypto.Hash import keccak

        path.write_bytes(data)
        return cls(
            path=path,
            size=len(data),
            sha256="0x" + hashlib.sha256(data).hexdigest(),
            keccak256="0x" + keccak.new(digest_bits=256, data=data).hexdigest(),
            name=name,
            declared_type=declared_type,
        )


@dataclass(frozen=True)
class Expected:
    """What the round and the portal's record bind: the verdict is about exactly these bytes."""

    content_hash: str  # the round's (SHA-256)
    sha256: str | None = None
    keccak256: str | None = None
    size: int | None = None
    owner: str = ""


def run_all(
    content: Content, expected: Expected, *, index: Any = None, thresholds: Thresholds | None = None
) -> list[Result]:
    from .duplicates import near_duplicate
    from .emptiness import near_empty
    from .encoding import text_encoding
    from .filetype import file_type
    from .integrity import hash_and_size
    from .pii import personal_data
    from .structure import structured_data

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
