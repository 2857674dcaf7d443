"""Near-duplicates of already-accepted content, by MinHash over word shingles (datasketch).

The signature is reproducible by anyone from the bytes alone (docs/validation.md, "MinHash"):
text NFKC-normalised and lower-cased, tokens `\\w+`, shingles the 5-token windows joined by one
space (a text of 1 to 4 tokens is one shingle), each UTF-8 encoded and hashed with datasketch's
default (SHA-1, first 4 bytes little-endian) under datasketch 2.0's `affine32` scheme,
128 permutations, seed 1. The signature is the
list of 128 hash values (each below 2^32). Parquet files are read as their rows' text.
Compared against an index of accepted content's signatures (published by the portal and kept
by this node for what it approved itself): Jaccard estimate ≥ `duplicate_jaccard` flags
`near_duplicate`. An entry with the same content hash and owner is the same contribution seen
again (a re-routed round) and never counts."""

from __future__ import annotations

import functools
import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Content, Result, Thresholds
from .filetype import TEXT_FORMATS

NUM_PERM = 128
SEED = 1
SHINGLE = 5
MAX_TOKENS = 500_000
MINHASH_SCHEME = "affine32"  # datasketch 2.0: MurmurHash3-mixed SHA-1, then a·h + b mod 2^32
SCHEME = {
    "library": "datasketch",
    "scheme": MINHASH_SCHEME,
    "num_perm": NUM_PERM,
    "seed": SEED,
    "shingle": f"word-{SHINGLE}",
    "hash": "sha1_32",
}
_TOKEN = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    tokens = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())[:MAX_TOKENS]
    if not tokens:
        return set()
    if len(tokens) < size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def text_for_signature(content: Content, fmt: str) -> str | None:
    if fmt in TEXT_FORMATS:
        return content.text
    if fmt == "parquet":
        from .pii import records

        return "\n".join(records(content, "parquet"))
    return None


@functools.cache
def _permutations():
    """The permutation parameters for (NUM_PERM, SEED, scheme), generated once per process."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=MINHASH_SCHEME).permutations


def prepare() -> None:
    """Load datasketch (with numpy and scipy, ~0.7 s of CPU) and the permutations now. A
    long-running process that will compute signatures calls this once at start, so the first
    signature does not pay for the imports in the middle of its work."""
    _permutations()


def minhash_of(text: str):
    """A datasketch MinHash of the text's shingles, or None for a text without tokens."""
    from datasketch import MinHash

    grams = shingles(text)
    if not grams:
        return None
    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=MINHASH_SCHEME, permutations=_permutations())
    m.update_batch(list(grams))
    return m


def signature(content: Content, fmt: str) -> list[int] | None:
    """The published form of a file's signature: 128 ints (None: not text, or no tokens)."""
    text = text_for_signature(content, fmt)
    m = minhash_of(text) if text is not None else None
    return [int(v) for v in m.hashvalues] if m is not None else None


@dataclass(frozen=True)
class Entry:
    content_hash: str
    owner: str
    source: str  # "portal" or "local"
    ref: str  # the DAT's public id (portal) or the round id (local)
    hashvalues: tuple[int, ...]


class SignatureIndex:
    """Accepted content's signatures, searchable by LSH; thread-safe. `path` (optional) is a
    JSON Lines cache the node appends what it approves to and reloads at start."""

    def __init__(self, *, threshold: float = 0.8, path: Path | None = None) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.path = path
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self._add(
                        Entry(
                            row["content_hash"],
                            row.get("owner", ""),
                            "local",
                            str(row.get("ref", "")),
                            tuple(row["minhash"]),
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    continue

    def __len__(self) -> int:
        return len(self._entries)

    def _add(self, entry: Entry) -> bool:
        from datasketch import MinHash

        key = entry.content_hash.lower()
        if key in self._entries or len(entry.hashvalues) != NUM_PERM:
            return False
        m = MinHash(
            num_perm=NUM_PERM,
            seed=SEED,
            scheme=MINHASH_SCHEME,
            hashvalues=list(entry.hashvalues),
            permutations=_permutations(),  # not generated again for every entry
        )
        self._lsh.insert(key, m)
        self._entries[key] = entry
        return True

    def add(self, entry: Entry, *, persist: bool = False) -> bool:
        with self._lock:
            added = self._add(entry)
            if added and persist and self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as fh:
                    row = {
                        "content_hash": entry.content_hash,
                        "owner": entry.owner,
                        "ref": entry.ref,
                        "minhash": list(entry.hashvalues),
                    }
                    fh.write(json.dumps(row) + "\n")
            return added

    def add_published(self, item: dict[str, Any]) -> bool:
        """One item of the portal's GET /api/v1/minhashes page."""
        try:
            entry = Entry(
                str(item["content_hash"]),
                str(item.get("owner", "")),
                "portal",
                str(item.get("dat", "")),
                tuple(int(v) for v in item["minhash"]),
            )
        except (KeyError, TypeError, ValueError):
            return False
        return self.add(entry)

    def best_match(self, m: Any, *, content_hash: str, owner: str) -> tuple[Entry, float] | None:
        """The most similar indexed entry at or above the threshold (not this very
        contribution), with its estimated Jaccard similarity."""
        from datasketch import MinHash

        with self._lock:
            keys = self._lsh.query(m)
            best: tuple[Entry, float] | None = None
            for key in keys:
                entry = self._entries[key]
                if entry.content_hash.lower() == content_hash.lower() and entry.owner.lower() == owner.lower():
                    continue
                other = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=MINHASH_SCHEME, hashvalues=list(entry.hashvalues))
                similarity = float(m.jaccard(other))
                if similarity >= self.threshold and (best is None or similarity > best[1]):
                    best = (entry, similarity)
            return best


def near_duplicate(
    content: Content, fmt: str, *, index: SignatureIndex, owner: str = "", thresholds: Thresholds | None = None
) -> Result:
    """near_duplicate when accepted content (by another contributor, or another file) is at
    least `duplicate_jaccard` similar. Figures: the signature itself (so it can be stored when
    the content is approved), the best similarity and what it matched."""
    text = text_for_signature(content, fmt)
    m = minhash_of(text) if text is not None else None
    if m is None:
        return Result("duplicates", "ok", True, "", {"applies": False})
    figures: dict[str, Any] = {"minhash": [int(v) for v in m.hashvalues], "indexed": len(index)}
    match = index.best_match(m, content_hash=content.sha256, owner=owner)
    if match is None:
        return Result("duplicates", "ok", True, "", figures)
    entry, similarity = match
    figures.update(similarity=round(similarity, 3), of=entry.ref or entry.content_hash, source=entry.source)
    what = f"DAT {entry.ref}" if entry.source == "portal" and entry.ref else f"content {entry.content_hash[:18]}…"
    return Result(
        "duplicates",
        "near_duplicate",
        False,
        f"the content is {similarity:.0%} similar to already accepted {what}",
        figures,
    )
