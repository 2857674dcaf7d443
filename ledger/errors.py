"""The ledger's refusals. Each has a stable code that callers and API clients can rely on."""

from __future__ import annotations

from portal.errors import Conflict, DomainError, NotFound


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    status = 409


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    status = 409


class InvalidAmount(DomainError):
    code = "invalid_amount"
    status = 422


class UnknownAsset(DomainError):
    code = "unknown_asset"
    status = 422


class InvalidTransaction(DomainError):
    """Postings that do not balance, an unknown kind, a bad owner string or a missing key."""

    code = "invalid_transaction"
    status = 422


class LeafNotFound(NotFound):
    code = "leaf_not_found"


class LeafNotSealed(Conflict):
    code = "leaf_not_sealed"
    status = 409
