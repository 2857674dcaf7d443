"""What the ledger's posting path passes around: a validated item and each item's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portal.errors import DomainError

from .models import Transaction

Leg = tuple[str, str, int]
Statement = tuple[str, Sequence]  # SQL and its parameters
APPLIED, REPLAYED, REFUSED = "applied", "replayed", "refused"
MAX_BATCH = 1000  # transfers per call (the API's bound, and a combined batch's)


@dataclass
class PostResult:
    """One item's outcome: `applied` (written now), `replayed` (its key was already applied with
    the same content: the first transaction) or `refused` (nothing written; `error` says why)."""

    status: str
    transaction: Transaction | None = None
    error: DomainError | None = None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None


@dataclass
class Item:
    """One validated transaction to post: `index` is its place in the caller's list; an empty
    `fingerprint` is computed before it is needed (services._with_fingerprints)."""

    index: int
    kind: str
    legs: list[Leg]
    key: str
    memo: str
    fingerprint: str
