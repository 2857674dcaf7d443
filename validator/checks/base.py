"""What every check takes and returns: the downloaded content, what the round binds, thresholds and
the result (kept apart from the package so each check module imports only this)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
        return {
            "check": self.check,
            "code": self.code,
            "passed": self.passed,
            "detail": self.detail,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class Thresholds:
    min_bytes: int = 16  # fewer non-whitespace bytes than this: near_empty
    pii_share: float = 0.1  # this share of records (or more) holding personal data: pii
    pii_min_records: int = 1
    duplicate_jaccard: float = 0.8  # estimated Jaccard similarity at or above: near_duplicate
    ragged_share: float = 0.1  # CSV rows whose width differs from the usual one: parse_error above

    @classmethod
    def of(cls, values: dict[str, float] | None) -> Thresholds:
        known: dict[str, Any] = {k: v for k, v in (values or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Content:
    """A downloaded file: where it is (or its bytes, when it came inline and is small), what was
    measured while it arrived, and what the portal says about it (name and declared type are the
    contributor's claims). Checks read it through `head`, `text` and `open()`."""

    path: Path
    size: int
    sha256: str
    keccak256: str
    name: str = ""
    declared_type: str = ""
    _head: bytes | None = None
    data: bytes | None = None  # the whole file, held in memory (then `path` is never read)

    def open(self) -> IO[bytes]:
        """The file's bytes from the start, as a binary file object (the caller closes it)."""
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    @property
    def head(self) -> bytes:
        if self._head is None:
            if self.data is not None:
                self._head = self.data[:SAMPLE_BYTES]
            else:
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
