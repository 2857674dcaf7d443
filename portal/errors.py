"""Domain errors and the one shape every error takes on the wire:
`{"error": <stable code>, "detail": <sentence>}` with a fitting HTTP status."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, JsonResponse


class DomainError(Exception):
    """An expected refusal: a stable machine code, a human sentence and an HTTP status.
    Subclasses set `code` and `status`; raise with a specific sentence."""

    code = "invalid_request"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


def error_response(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def ratelimited(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """django-ratelimit's RATELIMIT_VIEW: a JSON 429, never an HTML page."""
    return error_response("rate_limited", "Too many requests from this address; wait a minute and retry.", 429)


class InsufficientScope(Forbidden):
    """A bearer token without the scope an operation needs (sessions are never scope-limited)."""

    code = "insufficient_scope"


class InvalidText(DomainError):
    """A NUL byte, a lone surrogate or bytes that are not UTF-8 in any text of the request."""

    code = "invalid_text"
    status = 400


# Every error code the portal answers, with its one HTTP status and what it means. An operation
# declares the codes it can answer (portal.routers.PortalRouter `errors=`), and its OpenAPI
# responses are built from this table; docs/contracts.md lists it; tests/portal/test_error_codes.py
# checks that every code raised anywhere is here with this status.
CODES: dict[str, tuple[int, str]] = {
    # Request shape (added to operations by the API itself)
    "bad_request": (400, "The request was refused as malformed (headers, multipart framing)."),
    "invalid_text": (400, "A NUL byte, lone surrogate or invalid UTF-8 in some text of the request."),
    "nesting_too_deep": (400, "A JSON body nested deeper than 64 levels."),
    "too_many_parts": (400, "A form with too many fields or files."),
    "invalid_request": (400, "A request the portal cannot act on (generic)."),
    "malformed_message": (400, "A SIWE message that is not canonical EIP-4361 text."),
    "invalid_input": (422, "A field is missing, of the wrong type or out of range."),
    "invalid_json": (422, "The body is not JSON."),
    "payload_too_large": (413, "The body is larger than this endpoint accepts."),
    "method_not_allowed": (405, "The endpoint exists but not for this HTTP method."),
    "not_found": (404, "No such endpoint or object."),
    "server_error": (500, "A bug on our side; it was logged."),
    "rate_limited": (429, "Too many requests; wait and retry."),
    "active_proposal_limit": (429, "You have as many open proposals as the iDAO allows."),
    "daily_proposal_limit": (429, "You made as many proposals today as the iDAO allows."),
    # Who you are and what you may do
    "not_authenticated": (401, "Sign in with Ethereum or send a valid API token."),
    "token_revoked": (401, "The API token was revoked."),
    "expired": (401, "The SIWE message or nonce has expired."),
    "nonce_used": (401, "The SIWE nonce was already used."),
    "nonce_unknown": (401, "The SIWE nonce was never issued here."),
    "not_yet_valid": (401, "The SIWE message is not valid yet."),
    "chain_not_allowed": (401, "The SIWE message names a chain this portal does not accept."),
    "domain_mismatch": (401, "The SIWE message was made for another site."),
    "uri_mismatch": (401, "The SIWE message's URI is not this site."),
    "contract_wallet_unverifiable": (401, "A contract wallet's signature could not be checked."),
    "chain_unavailable": (503, "The chain RPC needed to check a signature is down."),
    "bad_signature": (422, "The signature does not verify (401 at sign-in, the wallet adapters' contract)."),
    "csrf_failed": (403, "Session call without a matching X-CSRFToken header."),
    "insufficient_scope": (403, "The API token lacks the scope this operation needs."),
    "forbidden": (403, "You may not do this."),
    "not_member": (403, "You are not an active member of the iDAO."),
    "not_steward": (403, "You are not a steward of the iDAO."),
    "over_steward_limit": (
        403,
        "A steward grant beyond the charter's steward_spend_limit this epoch; propose a treasury transfer.",
    ),
    "veto_not_allowed": (403, "The charter does not allow a guardian veto."),
    "not_author": (403, "You are not the proposal's author."),
    "not_eligible": (403, "You have no voting power on this proposal."),
    "not_your_ballot": (403, "The ballot was signed for another address."),
    "not_your_delegation": (403, "The delegation or revocation was signed for another address."),
    "proposal_threshold": (403, "You do not meet the charter's proposal threshold."),
    "not_in_committee": (403, "You do not sit on this round's committee."),
    "not_contributor": (403, "Only the contributor of the subject may appeal its decision."),
    "staff_only": (403, "Only staff may do this."),
    "not_dat_owner": (403, "You do not own this DAT."),
    "no_grant": (403, "You hold no valid access grant for this DAT."),
    "notification_not_found": (404, "No such notification in your inbox."),
    "webhook_not_found": (404, "No such webhook of yours."),
    "webhook_url_refused": (422, "A webhook URL that is not http(s) on a public address (SSRF guard)."),
    "unknown_event_kind": (422, "Not an event kind (or channel) of the notifications app."),
    "bad_link_token": (400, "An email verification or unsubscribe link that is invalid or expired."),
    "token_required": (403, "This operation needs an API token, not a session."),
    # A DAT's policy refusing access (dats.policies: the access decision's reason codes, docs/dats.md)
    "dat_revoked": (403, "The DAT's owner revoked its policy: no new access, no further policy change."),
    "dat_expired": (403, "The DAT's policy has expired."),
    "use_not_allowed": (403, "The DAT's policy does not allow this use."),
    "quota_exhausted": (403, "The DAT's quota of grants is used up."),
    "insufficient_credit": (402, "The paying account holds less CREDIT than the DAT's price."),
    "token_subject_forbidden": (403, "The token acts for an iDAO its creator no longer stewards."),
    "not_allowed_to_report": (403, "You may not report usage of this asset."),
    # Missing things
    "account_not_found": (404, "No ledger account with this owner."),
    "block_not_found": (404, "No ledger block at this height."),
    "leaf_not_found": (404, "No anchored record with this leaf id."),
    "transaction_not_found": (404, "No ledger transaction with this id."),
    "idao_not_found": (404, "No iDAO with this slug."),
    "proposal_not_found": (404, "No visible proposal with this id."),
    "ballot_not_found": (404, "No ballot with this id."),
    "quorum_not_found": (404, "No quorum with this id."),
    "quorum_name_taken": (409, "Another quorum already has this name."),
    "round_still_open": (409, "The round is still open; its bundle is complete once it closes."),
    "round_not_found": (404, "No validation round with this id."),
    "contribution_not_found": (404, "No contribution of yours with this id."),
    "dat_not_found": (404, "No DAT with this id."),
    "class_not_found": (404, "No ERC-8028 DAT class with this id."),
    "model_not_found": (404, "No AI model with this id."),
    "agent_not_found": (404, "No agent with this id."),
    "validator_not_found": (404, "No validator with this id."),
    "case_not_found": (404, "No fraud case with this id."),
    "version_not_found": (404, "No such version of the model."),
    "file_missing": (404, "The DAT's file is not in storage."),
    "epoch_not_found": (404, "No reward epoch with this number."),
    "payout_not_found": (404, "No payout line with this id in the epoch."),
    "token_not_found": (404, "You have no API token with this id."),
    # Conflicts with the current state
    "conflict": (409, "The request conflicts with the current state."),
    "insufficient_funds": (409, "The paying account cannot afford this."),
    "not_appealable": (409, "The decision cannot be appealed (still open, or accepted with a good score)."),
    "appeal_exists": (409, "This decision was already appealed."),
    "verdicts_sealed": (409, "The round's verdicts are sealed while an appeal or challenge panel votes."),
    "dat_contested": (409, "The DAT is already under challenge."),
    "challenge_window_closed": (409, "The DAT's challenge window has passed."),
    "appeal_window_closed": (409, "The appeal window of this decision has passed."),
    "appeal_final": (409, "A second-level appeal is final; it cannot be appealed."),
    "appeal_panel_unavailable": (409, "Not enough validators outside the earlier rounds to draw an appeal panel."),
    "idempotency_key_reused": (409, "The idempotency key was used for a different request."),
    "leaf_not_sealed": (409, "The record is not in a sealed block yet."),
    "duplicate_ballot": (409, "The same ballot was already recorded."),
    "superseded": (409, "A later ballot from you is already recorded."),
    "voting_closed": (409, "The proposal is not open for voting."),
    "voting_not_open": (409, "Voting has not started yet."),
    "already_member": (409, "You are already a member."),
    "already_requested": (409, "You already asked to join."),
    "not_pending": (409, "The membership request is not pending."),
    "last_steward": (409, "The iDAO would be left without a steward."),
    "slug_taken": (409, "An iDAO with this slug exists."),
    "name_taken": (409, "An asset with this name exists in the iDAO."),
    "no_current_version": (409, "The asset has no current version."),
    "not_draft": (409, "The proposal is not a draft."),
    "not_cancellable": (409, "The proposal can no longer be cancelled."),
    "has_votes": (409, "The proposal already has votes."),
    "not_in_timelock": (409, "Only a passed proposal waiting in its timelock can be vetoed."),
    "stream_ended": (409, "The treasury stream has already ended."),
    "comment_not_editable": (409, "A comment can be edited by its author within 10 minutes, while not hidden."),
    "comment_not_found": (404, "No visible comment with this id on this proposal."),
    "duplicate_contribution": (409, "You already uploaded this file to the iDAO."),
    "round_closed": (409, "The round is closed."),
    "quorum_paused": (409, "The quorum is paused."),
    "case_decided": (409, "The moderation case is already decided."),
    "validator_not_active": (409, "The validator is not active in the quorum."),
    "equivocation": (409, "A different verdict from you is already recorded in the round."),
    "round_not_accepted": (409, "The round did not accept the subject."),
    "already_minted": (409, "A DAT was already minted for this contribution."),
    "not_a_contribution": (409, "The round's subject is not a contribution."),
    "hash_mismatch": (409, "The stored file does not match the hash the round validated."),
    "parents_unchanged": (409, "The DAT already has these parents."),
    "payout_mismatch": (409, "The epoch's payouts do not add up."),
    # Invalid requests (well-formed, refused by a rule)
    "invalid_amount": (422, "The amount is not a positive whole number in range."),
    "invalid_transaction": (422, "The ledger transaction does not balance or is malformed."),
    "invalid_ballot": (422, "The ballot is not valid."),
    "malformed_ballot": (422, "The ballot is not EIP-712 typed data of the expected shape."),
    "unexpected_fields": (422, "The ballot has fields the Ballot type does not."),
    "reason_too_long": (422, "The ballot's reason is too long."),
    "timestamp_in_future": (422, "The ballot's timestamp is in the future."),
    "timestamp_outside_window": (422, "The ballot's timestamp is outside the voting window."),
    "wrong_chain_id": (422, "The typed data names another chain."),
    "wrong_domain": (422, "The typed data's domain is not this portal's."),
    "malformed_delegation": (422, "The delegation or revocation is not EIP-712 typed data of the expected shape."),
    "invalid_delegation": (
        422,
        "The delegation cannot be accepted: self-delegation, shares over 10000 bps, an unknown scope or delegate, "
        "an expiry beyond the maximum.",
    ),
    "delegation_expired": (422, "The delegation's expiry has passed."),
    "delegation_replayed": (409, "This signed delegation or revocation was already recorded."),
    "wrong_nonce": (409, "The message's nonce is not the delegator's next delegation nonce."),
    "delegation_not_found": (404, "The delegator has no live delegation in this scope."),
    "wrong_idao": (422, "The ballot names another iDAO."),
    "wrong_proposal": (422, "The ballot names another proposal."),
    "wrong_types": (422, "The typed data's types are not the Ballot types."),
    "wrong_ballot_type": (
        422,
        "The ballot's EIP-712 type is not the proposal's (OptionBallot for a signal with options, Ballot otherwise).",
    ),
    "unknown_option": (422, "The ballot names an option the proposal does not have."),
    "duplicate_option": (422, "The ballot lists an option more than once (a ranking with duplicates)."),
    "empty_selection": (422, "The ballot picks no option (an approval of nothing)."),
    "too_many_options": (422, "A single-choice ballot picks more than one option."),
    "invalid_options": (422, "A signal's options are not 2 to 10 distinct non-blank labels with a known method."),
    "unknown_kind": (422, "No such proposal or action kind."),
    "invalid_payload": (422, "The proposal payload is not valid for its kind."),
    "unknown_quorum": (422, "The proposal payload names no existing quorum."),
    "invalid_token_request": (422, "The API token request is not valid."),
    "bond_too_small": (422, "The bond is below the quorum's minimum."),
    "invalid_rate": (422, "The rate is out of range."),
    "invalid_verdict": (422, "The verdict is not valid."),
    "verdict_wrong_round": (422, "The verdict names another round."),
    "reason_required": (422, "A reason is required (a rejection, a moderation action)."),
    "invalid_quorum_parameters": (422, "A quorum parameter is unknown or out of range."),
    "too_many_verdicts": (422, "A verdict batch is limited in size."),
    "invalid_contribution": (422, "The upload is not a valid contribution."),
    "archive_refused": (422, "The archive is refused (unsafe or too expensive)."),
    "archive_too_expensive": (422, "The archive costs too much to inspect."),
    "invalid_filter": (422, "A DAT search filter is not valid."),
    "invalid_policy": (422, "The DAT policy change is not valid."),
    "policy_unchanged": (422, "The DAT policy change changes nothing."),
    "policy_outside_charter": (422, "The DAT policy is outside the iDAO charter's bounds."),
    "invalid_transfer": (422, "The DAT transfer is not valid."),
    "lineage_cycle": (422, "The declared parents would make a lineage cycle."),
    "unknown_parent": (422, "A declared parent DAT does not exist."),
    "dat_forbids_training": (422, "The DAT's policy does not allow training."),
    "invalid_idempotency_key": (422, "The idempotency key is missing or malformed."),
    "invalid_use": (422, "The requested use is not valid."),
    "invalid_usage": (422, "The usage report is not valid."),
    "batch_too_large": (422, "The usage batch has too many events."),
    "unknown_asset": (422, "The usage names no known model or agent version."),
    "invalid_grant": (422, "The credit grant is not valid."),
}


def status_of(code: str) -> int:
    """The one HTTP status of a code (KeyError for a code missing from CODES)."""
    return CODES[code][0]


# The one documented exception to "one status per code": sign-in answers a signature that does
# not verify with 401, the contract wallet adapters expect; everywhere else it is 422.
STATUS_EXCEPTIONS = {("bad_signature", 401)}


def statuses_of(codes: Sequence[str | tuple[str, int]]) -> dict[int, list[str]]:
    """{status: [codes]} for the codes an operation declares; an item `(code, status)` names a
    documented exception (STATUS_EXCEPTIONS)."""
    out: dict[int, list[str]] = {}
    for item in codes:
        if isinstance(item, tuple):
            if item not in STATUS_EXCEPTIONS:
                raise KeyError(f"{item} is not a documented status exception")
            code, status = item
        else:
            code, status = item, status_of(item)
        out.setdefault(status, []).append(code)
    return out
