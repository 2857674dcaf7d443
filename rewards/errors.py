"""Refusals of the rewards app, each with a stable code."""

from __future__ import annotations

from portal.errors import Conflict, DomainError, Forbidden, NotFound


class InvalidUsage(DomainError):
    code = "invalid_usage"
    status = 422


class UnknownAsset(DomainError):
    code = "unknown_asset"
    status = 422


class NotAllowedToReport(Forbidden):
    code = "not_allowed_to_report"


class TokenRevoked(DomainError):
    code = "token_revoked"
    status = 401


class EpochNotFound(NotFound):
    code = "epoch_not_found"


class PayoutMismatch(Conflict):
    """An internal invariant: never expected; the close rolls back."""

    code = "payout_mismatch"


class NotSteward(Forbidden):
    code = "not_steward"


class NotMember(Forbidden):
    code = "not_member"


class InvalidGrant(DomainError):
    code = "invalid_grant"
    status = 422
