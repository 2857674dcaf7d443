"""Refusals quorums raises, each with a stable code the API and pages show."""

from __future__ import annotations

from portal.errors import Conflict, DomainError, Forbidden, NotFound


class QuorumNotFound(NotFound):
    code = "quorum_not_found"


class RoundNotFound(NotFound):
    code = "round_not_found"


class QuorumPaused(Conflict):
    code = "quorum_paused"


class BondTooSmall(DomainError):
    code = "bond_too_small"
    status = 422


class ValidatorNotActive(Conflict):
    code = "validator_not_active"


class RoundClosed(Conflict):
    code = "round_closed"


class NotInCommittee(Forbidden):
    code = "not_in_committee"


class WrongRound(DomainError):
    code = "verdict_wrong_round"
    status = 422


class BadSignature(DomainError):
    code = "bad_signature"
    status = 422


class InvalidVerdict(DomainError):
    code = "invalid_verdict"
    status = 422


class StaffOnly(Forbidden):
    code = "staff_only"


class ReasonRequired(DomainError):
    code = "reason_required"
    status = 422


class InvalidQuorumParameters(DomainError):
    code = "invalid_quorum_parameters"
    status = 422


class QuorumNameTaken(Conflict):
    code = "quorum_name_taken"


class RoundStillOpen(Conflict):
    code = "round_still_open"


class NotAppealable(Conflict):
    code = "not_appealable"


class AppealExists(Conflict):
    code = "appeal_exists"


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"


class AppealFinal(Conflict):
    code = "appeal_final"


class NotContributor(Forbidden):
    code = "not_contributor"


class AppealPanelUnavailable(Conflict):
    code = "appeal_panel_unavailable"
