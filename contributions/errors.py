"""Contribution refusals (DomainError subclasses with stable codes)."""

from __future__ import annotations

from portal.errors import Conflict, DomainError, Forbidden


class NotAMember(Forbidden):
    code = "not_member"


class DuplicateContribution(Conflict):
    code = "duplicate_contribution"


class InvalidContribution(DomainError):
    code = "invalid_contribution"
    status = 422
