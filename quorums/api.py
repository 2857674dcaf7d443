"""Validator API: assignments, verdict submission, round status, bonding."""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from portal.auth import api_auth
from portal.errors import DomainError

from . import services
from .eip712 import verdict_typed_data
from .models import Round
from .selectors import VALIDATOR_SCOPE, assignments_open, candidates_json, round_get, subject_contents, subject_facts

router = Router(tags=["quorums"])


class VerdictIn(Schema):
    message: dict[str, Any]
    signature: str


class VerdictBatchItem(Schema):
    round: int
    message: dict[str, Any]
    signature: str


class VerdictBatchIn(Schema):
    verdicts: list[VerdictBatchItem]
    automated: bool = False  # an unsigned flag a session caller may set for its node's batches


MAX_VERDICT_BATCH = 100  # ~60 kB of JSON, inside DATA_UPLOAD_MAX_MEMORY_SIZE


class AmountIn(Schema):
    amount: int


def round_json(r: Round) -> dict[str, Any]:
    return {
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
        "open_anchor_leaf_id": r.open_anchor_leaf_id,
        "open_proof": f"/ledger/proofs/{r.open_anchor_leaf_id}.json" if r.open_anchor_leaf_id else None,
        "bundle": f"/rounds/{r.pk}/bundle.json",
        "attempt": r.attempt,
        "opened_at": r.opened_at,
        "deadline": r.deadline,
        "closed_at": r.closed_at,
        "tally": r.tally,
        "verdicts_digest": r.verdicts_digest,
        "anchor_leaf_id": r.anchor_leaf_id,
        "proof": f"/ledger/proofs/{r.anchor_leaf_id}.json" if r.anchor_leaf_id else None,
        "committee": [{"address": s.address, "stake": int(s.stake)} for s in r.seats.all()],
        "verdicts": [
            {
                "validator": v.validator.address,
                "verdict": v.verdict,
                "reason": v.reason,
                "signature": v.signature,
                "digest": v.digest,
                "automated": v.automated,
            }
            for v in r.verdicts.select_related("validator")
        ],
    }


MAX_ASSIGNMENTS = 500
MAX_INLINE_BYTES = 1 << 20  # at most 1 MiB per inline file
MAX_INLINE_TOTAL = 16 << 20  # and 16 MiB of inline content per answer


def _via_validator_token(request: HttpRequest) -> bool:
    token = getattr(request, "api_token", None)
    return token is not None and VALIDATOR_SCOPE in (token.scopes or [])


@router.get("/validator/assignments", auth=api_auth)
def assignments(request: HttpRequest, limit: int = 200, inline_max: int = 0) -> list[dict]:
    """Open rounds where you sit on the committee and have not signed yet (at most `limit`,
    ≤ 500, earliest deadline first), with the typed data to sign (fill in verdict and reason) and
    where to download the file. With `inline_max=N` (≤ 1 MiB), files of at most N bytes come
    inline as `subject.content_base64` (read through the storage API), saving a download each."""
    limit = max(1, min(int(limit), MAX_ASSIGNMENTS))
    inline_max = max(0, min(int(inline_max), MAX_INLINE_BYTES))
    rounds = assignments_open(address=request.auth.address, limit=limit)
    facts = subject_facts(rounds)  # one describe() per subject kind for all seats
    inline = subject_contents(rounds, facts, max_bytes=inline_max, max_total=MAX_INLINE_TOTAL) if inline_max else {}
    domain = verdict_typed_data(validator="", round_id=0, content_hash="0x" + "0" * 64, verdict="", reason="")
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
                    },
                },
            }
        )
    return out


@router.post("/rounds/{round_id}/verdicts", auth=api_auth, response={201: dict, 409: dict})
def submit_verdict(request: HttpRequest, round_id: int, payload: VerdictIn) -> Status:
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


@router.post("/verdicts", auth=api_auth, response={200: dict, 422: dict})
def submit_verdicts(request: HttpRequest, payload: VerdictBatchIn) -> Status:
    """Submit up to 100 signed EIP-712 Verdicts at once (an automated validator's batch), each
    checked exactly as by POST /rounds/{id}/verdicts, in one transaction. The answer lists, in
    order, each item's outcome: `{"status": 201, …}`, `{"status": 409, "error": "equivocation", …}`
    or the refusal's status, error code and detail; refused items write nothing."""
    if len(payload.verdicts) > MAX_VERDICT_BATCH:
        return Status(
            422,
            {
                "error": "too_many_verdicts",
                "detail": f"Submit at most {MAX_VERDICT_BATCH} verdicts at once; this batch has {len(payload.verdicts)}.",
            },
        )
    results = services.verdicts_submit(
        items=[{"round_id": v.round, "message": v.message, "signature": v.signature} for v in payload.verdicts],
        automated=payload.automated or _via_validator_token(request),
    )
    out = []
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


@router.get("/rounds/{round_id}", auth=None)
def round_detail(request: HttpRequest, round_id: int) -> dict:
    return round_json(round_get(round_id))


@router.post("/quorums/{quorum_id}/bond", auth=api_auth)
def bond(request: HttpRequest, quorum_id: int, payload: AmountIn) -> dict:
    v = services.validator_bond(quorum_id=quorum_id, user=request.auth, amount=payload.amount)
    return {"validator": v.pk, "stake": int(v.stake), "state": v.state}


@router.post("/quorums/{quorum_id}/unbond", auth=api_auth)
def unbond(request: HttpRequest, quorum_id: int, payload: AmountIn) -> dict:
    b = services.validator_unbond(quorum_id=quorum_id, user=request.auth, amount=payload.amount)
    return {"unbond": b.pk, "amount": int(b.amount), "available_at": b.available_at}
