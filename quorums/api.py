"""Validator API: assignments, verdict submission, round status, bonding, the Verdict schema."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from django.http import HttpResponse
from ninja import Status
from pydantic import Field

from portal.auth import api_auth
from portal.errors import DomainError
from portal.http import PortalRequest
from portal.routers import PortalRouter
from portal.schemas import Id

from . import eip712, services
from .eip712 import SCORED_PRIMARY, SCORED_TYPES, verdict_typed_data
from .models import FraudCase, Round, Validator
from .schemas import (
    AppealIn,
    AppealOut,
    AssignmentOut,
    BondAmountIn,
    BondOut,
    CaseDecisionIn,
    CaseOpenIn,
    CaseOut,
    EquivocationOut,
    PauseIn,
    QuorumCreateIn,
    QuorumOut,
    QuorumParametersIn,
    QuorumUpdateIn,
    ReasonIn,
    RoundOut,
    UnbondOut,
    ValidatorModerationOut,
    ValidatorStateIn,
    VerdictBatchIn,
    VerdictBatchOut,
    VerdictIn,
    VerdictOut,
    VerdictPublicationOut,
)
from .selectors import (
    VALIDATOR_SCOPE,
    appeal_list,
    assignments_open,
    candidates_json,
    round_get,
    subject_contents,
    subject_facts,
    verdicts_sealed,
)

router = PortalRouter(tags=["quorums"])
VALIDATOR = "validator"  # the token scope of everything a validator does here

MAX_VERDICT_BATCH = 100  # ~60 kB of JSON, inside DATA_UPLOAD_MAX_MEMORY_SIZE


def round_json(r: Round) -> dict[str, Any]:
    sealed = verdicts_sealed(r)
    return {
        "verdicts_sealed": sealed,
        "appeal_of": r.appeal_of_id,
        "appeal_level": r.appeal_level,
        "id": r.pk,
        "quorum": r.quorum_id,
        "idao": r.idao.slug,
        "state": r.state,
        "outcome": r.outcome,
        "close_reason": r.close_reason,
        "content_hash": r.content_hash,
        "seed": r.seed,
        "seed_block": {"height": r.seed_block_height, "hash": r.seed_block_hash} if r.seed_block_hash else None,
        "candidates": candidates_json(r),
        "seed_chain_block": (
            {
                "chain_id": r.beacon_chain_id,
                "number": r.beacon_block_number,
                "hash": r.beacon_block_hash or None,
                "timestamp": r.beacon_block_timestamp,
            }
            if r.beacon_chain_id
            else None
        ),
        "draw_note": r.draw_note,
        "draw_proof": f"/ledger/proofs/{r.draw_anchor_leaf_id}.json" if r.draw_anchor_leaf_id else None,
        "open_anchor_leaf_id": r.open_anchor_leaf_id,
        "open_proof": f"/ledger/proofs/{r.open_anchor_leaf_id}.json" if r.open_anchor_leaf_id else None,
        "bundle": f"/rounds/{r.pk}/bundle.json",
        "attempt": r.attempt,
        "opened_at": r.opened_at,
        "deadline": r.deadline,
        "closed_at": r.closed_at,
        "tally": r.tally,
        "scores": r.scores,
        "verdicts_digest": r.verdicts_digest,
        "anchor_leaf_id": r.anchor_leaf_id,
        "proof": f"/ledger/proofs/{r.anchor_leaf_id}.json" if r.anchor_leaf_id else None,
        "committee": [{"address": s.address, "stake": int(s.stake)} for s in r.seats.all()],
        "verdicts": [
            {
                "validator": v.validator.address,
                "verdict": v.verdict,
                "reason": v.reason,
                "scores": v.scores,
                "evidence": v.evidence,
                "signature": v.signature,
                "digest": v.digest,
                "automated": v.automated,
                # How the signature was verified: eoa, erc1271 or erc6492, the chain and block.
                "verified_by": v.verified_by,
                "verified_chain_id": v.verified_chain_id,
                "verified_block": v.verified_block,
            }
            for v in ([] if sealed else r.verdicts.select_related("validator"))
        ],
    }


MAX_ASSIGNMENTS = 500
MAX_INLINE_BYTES = 1 << 20  # at most 1 MiB per inline file
MAX_INLINE_TOTAL = 16 << 20  # and 16 MiB of inline content per answer


def _via_validator_token(request: PortalRequest) -> bool:
    token = getattr(request, "api_token", None)
    return token is not None and VALIDATOR_SCOPE in (token.scopes or [])


@router.get(
    "/quorums/eip712",
    auth=None,
    response={200: VerdictPublicationOut},
    summary="The EIP-712 Verdict type, domain and verdicts (also at /quorums/eip712.json)",
)
def verdict_publication(request: PortalRequest) -> VerdictPublicationOut:
    return VerdictPublicationOut.model_validate(eip712.publication())


@router.get(
    "/validator/assignments",
    auth=api_auth(scope=VALIDATOR),
    response={200: list[AssignmentOut]},
    summary="Your open assignments with the typed data to sign",
)
def assignments(
    request: PortalRequest,
    limit: Annotated[int, Field(ge=1, le=MAX_ASSIGNMENTS)] = 200,
    inline_max: Annotated[int, Field(ge=0, le=MAX_INLINE_BYTES)] = 0,
) -> HttpResponse:
    """Open rounds where you sit on the committee and have not signed yet (at most `limit`,
    ≤ 500, earliest deadline first), with the typed data to sign (fill in verdict and reason) and
    where to download the file. With `inline_max=N` (≤ 1 MiB), files of at most N bytes come
    inline as `subject.content_base64` (read through the storage API), saving a download each."""
    rounds = assignments_open(address=request.auth.address, limit=limit)
    facts = subject_facts(rounds)  # one describe() per subject kind for all seats
    inline = subject_contents(rounds, facts, max_bytes=inline_max, max_total=MAX_INLINE_TOTAL) if inline_max else {}
    domain = verdict_typed_data(validator="", round_id=0, content_hash="0x" + "0" * 64, verdict="", reason="")
    domain |= {"types": SCORED_TYPES, "primaryType": SCORED_PRIMARY}  # the node fills in scores and evidence
    out = []
    for r in rounds:
        subject = facts[r.pk]
        if r.pk in inline:
            subject = {**subject, "content_base64": base64.b64encode(inline[r.pk]).decode("ascii")}
        out.append(
            {
                "round": r.pk,
                "deadline": r.deadline,
                "content_hash": r.content_hash,
                "subject": subject,
                "typed_data": {
                    **domain,
                    "message": {
                        "validator": r.address,
                        "round": r.pk,
                        "contentHash": r.content_hash,
                        "verdict": "approve",
                        "reason": "",
                        # ScoredVerdict's fields, as the declared schema gives them: the node fills them in.
                        "authenticity": None,
                        "ownership": None,
                        "quality": None,
                        "uniqueness": None,
                        "evidence": None,
                    },
                },
            }
        )
    # Built here exactly in the declared shape (list[AssignmentOut]): rendered directly, because
    # validating up to 500 nested typed-data objects again on the way out was a seventh of the
    # portal's CPU per contribution under load (tests/quorums/test_api_contract.py checks the shape).
    from portal.api import api

    return api.create_response(request, out, status=200)


@router.post(
    "/rounds/{round_id}/verdicts",
    auth=api_auth(scope=VALIDATOR),
    response={201: VerdictOut, 409: EquivocationOut},
    errors=(
        "round_not_found",
        "round_closed",
        "not_in_committee",
        "verdict_wrong_round",
        "bad_signature",
        "invalid_verdict",
        "equivocation",
    ),
    summary="Submit a signed EIP-712 Verdict",
)
def submit_verdict(request: PortalRequest, round_id: Id, payload: VerdictIn) -> Status:
    """Submit a signed EIP-712 Verdict. A second, different verdict for the same round is
    recorded as equivocation evidence (409 equivocation)."""
    result = services.verdict_submit(round_id=round_id, message=payload.message, signature=payload.signature)
    body = {"verdict_id": result.verdict.pk, "digest": result.verdict.digest, "duplicate": result.duplicate}
    if result.equivocation is not None:
        return Status(
            409,
            {
                "error": "equivocation",
                "detail": "You already signed a different verdict in this round; both "
                "signatures are kept as evidence and your bond will be slashed.",
                **body,
            },
        )
    return Status(201, body)


@router.post(
    "/verdicts",
    auth=api_auth(scope=VALIDATOR),
    response={200: VerdictBatchOut},
    errors=("too_many_verdicts",),
    exclude_unset=True,
    summary="Submit up to 100 signed EIP-712 Verdicts at once",
)
def submit_verdicts(request: PortalRequest, payload: VerdictBatchIn) -> Status:
    """Submit up to 100 signed EIP-712 Verdicts at once (an automated validator's batch), each
    checked exactly as by POST /rounds/{id}/verdicts, in one transaction. The answer lists, in
    order, each item's outcome: `{"status": 201, …}`, `{"status": 409, "error": "equivocation", …}`
    or the refusal's status, error code and detail; refused items write nothing."""
    if len(payload.verdicts) > MAX_VERDICT_BATCH:
        raise DomainError(
            f"Submit at most {MAX_VERDICT_BATCH} verdicts at once; this batch has {len(payload.verdicts)}.",
            code="too_many_verdicts",
            status=422,
        )
    results = services.verdicts_submit(
        items=[{"round_id": v.round, "message": v.message, "signature": v.signature} for v in payload.verdicts],
        automated=payload.automated or _via_validator_token(request),
    )
    out: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, DomainError):
            out.append({"status": result.status, "error": result.code, "detail": result.detail})
            continue
        body = {"verdict_id": result.verdict.pk, "digest": result.verdict.digest, "duplicate": result.duplicate}
        if result.equivocation is not None:
            out.append({"status": 409, "error": "equivocation", **body})
        else:
            out.append({"status": 201, **body})
    return Status(200, {"results": out})


@router.get(
    "/rounds/{round_id}", auth=None, response={200: RoundOut}, errors=("round_not_found",), summary="A validation round"
)
def round_detail(request: PortalRequest, round_id: Id) -> dict[str, Any]:
    return round_json(round_get(round_id))


@router.post(
    "/quorums/{quorum_id}/bond",
    auth=api_auth(scope=VALIDATOR),
    response={200: BondOut},
    errors=("quorum_not_found", "quorum_paused", "validator_not_active", "bond_too_small", "insufficient_funds"),
    summary="Bond LAZ into a quorum's escrow",
)
def bond(request: PortalRequest, quorum_id: Id, payload: BondAmountIn) -> dict[str, Any]:
    v = services.validator_bond(quorum_id=quorum_id, user=request.auth, amount=payload.amount)
    return {"validator": v.pk, "stake": int(v.stake), "state": v.state}


@router.post(
    "/quorums/{quorum_id}/unbond",
    auth=api_auth(scope=VALIDATOR),
    response={200: UnbondOut},
    errors=("quorum_not_found", "validator_not_active", "bond_too_small"),
    summary="Start unbonding LAZ (available after the cool-down)",
)
def unbond(request: PortalRequest, quorum_id: Id, payload: BondAmountIn) -> dict[str, Any]:
    b = services.validator_unbond(quorum_id=quorum_id, user=request.auth, amount=payload.amount)
    return {"unbond": b.pk, "amount": int(b.amount), "available_at": b.available_at}


# --- appeals -------------------------------------------------------------------------------------


def appeal_json(a: Any) -> dict[str, Any]:
    return {
        "id": a.pk,
        "round": a.round_id,
        "appeal_round": a.appeal_round_id,
        "level": a.level,
        "appellant": a.address,
        "reason": a.reason,
        "bond": int(a.bond),
        "bond_asset": a.bond_asset,
        "state": a.state,
        "outcome": a.outcome,
        "anchor_leaf_id": a.anchor_leaf_id,
        "created_at": a.created_at,
        "decided_at": a.decided_at,
    }


@router.post(
    "/rounds/{round_id}/appeal",
    auth=api_auth(scope="contributions:write"),
    response={201: AppealOut},
    errors=(
        "round_not_found",
        "not_appealable",
        "appeal_exists",
        "appeal_window_closed",
        "appeal_final",
        "not_contributor",
        "appeal_panel_unavailable",
        "insufficient_funds",
    ),
    summary="Appeal a round's decision (the contributor, with the quorum's bond)",
)
def appeal_create(request: PortalRequest, round_id: Id, payload: AppealIn) -> Status:
    """The contributor of a rejected or low-scored subject appeals the decision within the
    quorum's appeal window, with the quorum's bond (moved to escrow) and a reason. A larger panel
    (2n+1), disjoint from the earlier rounds, re-decides it (docs/validation.md, "Appeals")."""
    appeal = services.appeal_file(round_id=round_id, user=request.auth, reason=payload.reason)
    return Status(201, appeal_json(appeal))


@router.get(
    "/quorums/{quorum_id}/appeals",
    auth=None,
    response={200: list[AppealOut]},
    summary="A quorum's appeals, open first, newest first (at most 200)",
)
def appeals_of_quorum(request: PortalRequest, quorum_id: Id) -> list[dict[str, Any]]:
    return [appeal_json(a) for a in appeal_list(quorum_id=quorum_id)]


# --- staff: quorum creation and parameters ---------------------------------------------------

STAFF_ERRORS = ("staff_only", "reason_required", "invalid_quorum_parameters")


def _quorum_out(q: Any) -> dict[str, Any]:
    from .models import AuditEntry

    entry = AuditEntry.objects.filter(target=f"quorum:{q.pk}").order_by("-pk").first()
    return {
        "id": q.pk,
        "name": q.name,
        "description": q.description,
        "paused": q.paused,
        **{
            k: int(getattr(q, k))
            for k in (
                "committee_size",
                "threshold_bps",
                "min_participation_bps",
                "slash_equivocation_bps",
                "slash_minority_bps",
                "slash_absence_bps",
                "min_bond",
                "appeal_bond",
                "appeal_bounty_bps",
                "appeal_fee_bps",
                "score_low_bps",
            )
        },
        "round_duration": int(q.round_duration.total_seconds()),
        "unbond_delay": int(q.unbond_delay.total_seconds()),
        "appeal_window": int(q.appeal_window.total_seconds()),
        "appeal_bond_asset": q.appeal_bond_asset,
        "score_weights": q.score_weights,
        "score_minimums": q.score_minimums,
        "audit_entry": entry.pk if entry else None,
        "anchor_leaf_id": entry.anchor_leaf_id if entry else None,
    }


def _given(payload: QuorumParametersIn) -> dict[str, Any]:
    return {k: v for k, v in payload.dict(include=set(QuorumParametersIn.model_fields)).items() if v is not None}


@router.post(
    "/quorums",
    auth=api_auth(scope="moderation"),
    response={201: QuorumOut},
    errors=(*STAFF_ERRORS, "quorum_name_taken"),
    summary="Create a quorum (staff only; audited and anchored)",
)
def quorum_create_api(request: PortalRequest, payload: QuorumCreateIn) -> Status:
    q = services.quorum_create(
        actor=request.auth,
        name=payload.name,
        description=payload.description,
        reason=payload.reason,
        **_given(payload),
    )
    return Status(201, _quorum_out(q))


@router.patch(
    "/quorums/{quorum_id}",
    auth=api_auth(scope="moderation"),
    response=QuorumOut,
    errors=(*STAFF_ERRORS, "quorum_not_found", "quorum_name_taken"),
    summary="Change a quorum's parameters (staff only; audited and anchored; applies to rounds opened after it)",
)
def quorum_update_api(request: PortalRequest, quorum_id: Id, payload: QuorumUpdateIn) -> Status:
    q = services.quorum_update(actor=request.auth, quorum_id=quorum_id, reason=payload.reason, **_given(payload))
    return Status(200, _quorum_out(q))


# --- staff moderation (the moderation page's actions, typed) -----------------------------------


def _validator(validator_id: int) -> Validator:
    validator = Validator.objects.filter(pk=validator_id).first()
    if validator is None:
        raise DomainError(f"There is no validator {validator_id}.", code="validator_not_found", status=404)
    return validator


def _validator_out(v: Validator) -> dict[str, Any]:
    return {"id": v.pk, "quorum": v.quorum_id, "address": v.address, "state": v.state}


def _case_out(c: FraudCase) -> dict[str, Any]:
    return {
        "id": c.pk,
        "validator": c.validator_id,
        "round": c.round_id,
        "state": c.state,
        "allegation": c.allegation,
        "decision": c.decision,
        "rate_bps": c.rate_bps,
    }


@router.post(
    "/quorums/{quorum_id}/paused",
    auth=api_auth(scope="moderation"),
    response=QuorumOut,
    errors=("staff_only", "reason_required", "quorum_not_found"),
    summary="Pause or resume a quorum (staff only; audited and anchored)",
)
def quorum_pause_api(request: PortalRequest, quorum_id: Id, payload: PauseIn) -> Status:
    q = services.quorum_set_paused(
        actor=request.auth, quorum_id=quorum_id, paused=payload.paused, reason=payload.reason
    )
    return Status(200, _quorum_out(q))


@router.post(
    "/validators/{validator_id}/state",
    auth=api_auth(scope="moderation"),
    response=ValidatorModerationOut,
    errors=("staff_only", "reason_required", "validator_not_found", "validator_not_active"),
    summary="Jail, unjail (state active) or remove a validator (staff only; audited and anchored)",
)
def validator_state_api(request: PortalRequest, validator_id: Id, payload: ValidatorStateIn) -> dict[str, Any]:
    _validator(validator_id)
    v = services.validator_set_state(
        actor=request.auth, validator_id=validator_id, state=payload.state, reason=payload.reason
    )
    return _validator_out(v)


@router.post(
    "/validators/{validator_id}/cases",
    auth=api_auth(scope="moderation"),
    response={201: CaseOut},
    errors=("staff_only", "reason_required", "validator_not_found", "round_not_found"),
    summary="Open a fraud case against a validator (staff only; the allegation is audited)",
)
def case_open_api(request: PortalRequest, validator_id: Id, payload: CaseOpenIn) -> Status:
    _validator(validator_id)
    if payload.round is not None:
        round_get(payload.round)
    case = services.fraud_case_open(
        actor=request.auth, validator_id=validator_id, allegation=payload.allegation, round_id=payload.round
    )
    return Status(201, _case_out(case))


@router.post(
    "/cases/{case_id}/decision",
    auth=api_auth(scope="moderation"),
    response=CaseOut,
    errors=("staff_only", "reason_required", "case_not_found", "case_decided", "invalid_rate"),
    summary="Decide a fraud case: slash (rate_bps of the stake, optionally jail) or dismiss (staff only)",
)
def case_decide_api(request: PortalRequest, case_id: Id, payload: CaseDecisionIn) -> dict[str, Any]:
    if not FraudCase.objects.filter(pk=case_id).exists():
        raise DomainError(f"There is no fraud case {case_id}.", code="case_not_found", status=404)
    case = services.fraud_case_decide(
        actor=request.auth,
        case_id=case_id,
        slash=payload.slash,
        reason=payload.reason,
        rate_bps=payload.rate_bps,
        jail=payload.jail,
    )
    return _case_out(case)


@router.post(
    "/rounds/{round_id}/force-close",
    auth=api_auth(scope="moderation"),
    response=RoundOut,
    errors=("staff_only", "reason_required", "round_not_found"),
    summary="Close a stuck round now, as if its deadline had passed (staff only; audited)",
)
def round_force_close_api(request: PortalRequest, round_id: Id, payload: ReasonIn) -> dict[str, Any]:
    round_get(round_id)
    return round_json(services.round_force_close(actor=request.auth, round_id=round_id, reason=payload.reason))
