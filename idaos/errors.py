"""The refusals of the governance app, each with a stable code (see docs/governance.md)."""

from __future__ import annotations

from portal.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class InvalidBallot(DomainError):
    """A ballot that is malformed or does not verify (the code says which)."""

    code = "invalid_ballot"
    status = 422


class NotMember(Forbidden):
    code = "not_member"


class NotSteward(Forbidden):
    code = "not_steward"


class NotEligible(Forbidden):
    code = "not_eligible"


class VotingClosed(Conflict):
    code = "voting_closed"


class DuplicateBallot(Conflict):
    code = "duplicate_ballot"


class Superseded(Conflict):
    code = "superseded"


class InvalidDelegation(DomainError):
    """A delegation or revocation that is malformed or does not verify (the code says which)."""

    code = "invalid_delegation"
    status = 422


class DelegationReplayed(Conflict):
    code = "delegation_replayed"


class DelegationExpired(DomainError):
    code = "delegation_expired"
    status = 422


class WrongNonce(Conflict):
    code = "wrong_nonce"


class OverStewardLimit(Forbidden):
    """A steward's grant beyond the charter's steward_spend_limit: a treasury proposal can do it."""

    code = "over_steward_limit"


class ProposalLimit(RateLimited):
    code = "rate_limited"


__all__ = [
    "Conflict",
    "DelegationExpired",
    "DelegationReplayed",
    "DomainError",
    "DuplicateBallot",
    "Forbidden",
    "InvalidBallot",
    "InvalidDelegation",
    "InvalidInput",
    "NotEligible",
    "NotFound",
    "NotMember",
    "NotSteward",
    "OverStewardLimit",
    "ProposalLimit",
    "Superseded",
    "VotingClosed",
    "WrongNonce",
]
