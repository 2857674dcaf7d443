"""Usage metering, epochs, earnings and compute-credit grants over the JSON API."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from django.utils import timezone
from ninja import Schema
from pydantic import Field, Strict

from idaos.schemas import Slug
from idaos.selectors import idao_get
from portal.auth import BearerAuth, PortalSessionAuth, api_auth
from portal.errors import DomainError
from portal.http import PortalRequest
from portal.models import ApiToken
from portal.parsing import parse_json
from portal.routers import PortalRouter
from portal.schemas import AMOUNT_MAX, INT64_MAX, Id

from . import conf, selectors
from .errors import TokenRevoked
from .services import credits, metering

router = PortalRouter(tags=["rewards"])
GrantAmount = Annotated[int, Strict(), Field(ge=-AMOUNT_MAX, le=AMOUNT_MAX)]  # the sign is the service's rule


class UsageBearer(BearerAuth):
    """Bearer auth that names a revoked token as such instead of a generic 401."""

    def authenticate(self, request: HttpRequest, token: str):
        user = super().authenticate(request, token)
        if user is None and ApiToken.objects.filter(key_hash=ApiToken.hash(token), revoked_at__isnull=False).exists():
            raise TokenRevoked("This API token was revoked; create a new token to report usage.")
        return user


class ReportOut(Schema):
    report_id: int
    epoch: int
    received: int
    accepted: int
    duplicates: int
    fee_credit: str
    fee_tx_id: int | None


USAGE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["version", "kind", "units", "occurred_at", "idempotency_key"],
    "properties": {
        "model_id": {"type": "integer", "description": "Give model_id or agent_id."},
        "agent_id": {"type": "integer"},
        "version": {"type": "integer", "minimum": 1},
        "kind": {"type": "string", "enum": ["inference", "training", "fine_tuning", "evaluation"]},
        "units": {"type": "integer", "minimum": 1},
        "occurred_at": {"type": "string", "format": "date-time"},
        "idempotency_key": {"type": "string", "maxLength": 100},
    },
}


@router.post(
    "/usage",
    response=ReportOut,
    errors=(
        "token_revoked",
        "token_subject_forbidden",
        "not_allowed_to_report",
        "insufficient_funds",
        "payload_too_large",
        "invalid_json",
        "invalid_usage",
        "batch_too_large",
        "unknown_asset",
    ),
    auth=[UsageBearer(scope="usage:report"), PortalSessionAuth()],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            USAGE_EVENT_SCHEMA,
                            {
                                "type": "object",
                                "required": ["events"],
                                "properties": {
                                    "events": {"type": "array", "maxItems": 10000, "items": USAGE_EVENT_SCHEMA}
                                },
                            },
                        ]
                    }
                }
            },
        }
    },
)
def usage_report(request: PortalRequest) -> dict:
    """Report one usage event or a batch of up to 10,000. An idempotency key already accepted
    from you is skipped (counted in `duplicates`); the CREDIT fee of the accepted events is
    charged to you (or to the iDAO a token acts for). Errors name the event: `events[3].units`."""
    cap = conf.max_report_bytes()
    raw = request.read(cap + 1)
    if len(raw) > cap:
        raise DomainError(
            f"A usage report is at most {cap:,} bytes; split the batch.", code="payload_too_large", status=413
        )
    body = parse_json(raw)  # nesting, UTF-8, NUL and surrogates are checked as for every operation
    items = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    result = metering.usage_report(
        user=request.auth, token=getattr(request, "api_token", None), items=items, now=timezone.now()
    )
    return {**result.__dict__, "duplicates": result.duplicates, "fee_credit": str(result.fee_credit)}


class EpochOut(Schema):
    number: int
    state: str
    starts_at: str
    ends_at: str
    closed_at: str | None
    events: int
    pool_laz: str
    pool_credit: str
    payouts: int
    payouts_root: str
    ledger_tx: int | None
    anchor_leaf_id: int | None


EpochNumber = Annotated[int, Field(ge=0, le=INT64_MAX)]


class SplitOut(Schema):
    role: str
    LAZ: int
    CREDIT: int


class EpochIdaoOut(Schema):
    slug: str
    name: str = ""
    LAZ: int
    CREDIT: int


class EarnerOut(Schema):
    recipient: str
    laz: int
    lines: int


class EpochDetailOut(EpochOut):
    split: list[SplitOut]
    idaos: list[EpochIdaoOut]
    top_earners: list[EarnerOut]


class PayoutProofOut(Schema):
    epoch: int
    payoutId: int
    types: list[str]
    value: list[str | None]
    leaf: str
    proof: list[str]
    root: str
    anchorLeafId: int | None
    ledgerTx: int | None
    ledgerTxLeafId: int | None


class EarningsHistoryOut(Schema):
    number: int
    closed_at: str | None
    tx_id: int | None
    leaf_id: int | None
    LAZ: int
    CREDIT: int


class EarningsByDatOut(Schema):
    dat_id: int
    title: str
    LAZ: int
    CREDIT: int


class EarningsByIdaoOut(Schema):
    slug: str
    name: str
    LAZ: int
    CREDIT: int


class EarningsLineOut(Schema):
    id: int
    epoch: int
    role: str
    idao: str
    dat_id: int | None
    asset: str
    amount: str
    ledger_tx: int | None
    proof_leaf_id: int | None


class EarningsGrantOut(Schema):
    idao: str
    amount: str
    ledger_tx: int | None


class EarningsOut(Schema):
    totals: dict[str, int]
    history: list[EarningsHistoryOut]
    by_dat: list[EarningsByDatOut]
    by_idao: list[EarningsByIdaoOut]
    grants: list[EarningsGrantOut]
    lines: list[EarningsLineOut]


def _epoch_out(e) -> dict:
    return {
        "number": e.number,
        "state": e.state,
        "starts_at": e.starts_at.isoformat(),
        "ends_at": e.ends_at.isoformat(),
        "closed_at": e.closed_at.isoformat() if e.closed_at else None,
        "events": e.event_count,
        "pool_laz": str(int(e.pool_laz)),
        "pool_credit": str(int(e.pool_credit)),
        "payouts": e.payout_count,
        "payouts_root": e.payouts_root,
        "ledger_tx": e.payout_tx_id,
        "anchor_leaf_id": e.anchor_leaf_id,
    }


@router.get("/rewards/epochs", response=list[EpochOut], auth=None)
def epochs(request: HttpRequest) -> list[dict]:
    """The latest reward epochs."""
    return [_epoch_out(e) for e in selectors.epoch_list()]


@router.get("/rewards/epochs/{number}", response=EpochDetailOut, errors=("epoch_not_found",), auth=None)
def epoch(request: HttpRequest, number: EpochNumber) -> dict:
    """An epoch: pool, split by role and iDAO, top earners, anchor."""
    e = selectors.epoch_get(number)
    return {**_epoch_out(e), **selectors.epoch_detail(e)}


@router.get(
    "/rewards/epochs/{number}/payouts/{payout_id}/proof",
    response=PayoutProofOut,
    errors=("epoch_not_found", "payout_not_found"),
    auth=None,
)
def payout_proof(request: HttpRequest, number: EpochNumber, payout_id: Id) -> dict:
    """A payout line's Merkle proof against the epoch's anchored payouts root (also served as
    /earnings/epochs/<n>/payouts/<id>/proof.json)."""
    return selectors.payout_proof(selectors.epoch_get(number), payout_id)


@router.get("/rewards/earnings", response=EarningsOut, auth=api_auth())
def earnings(request: PortalRequest) -> dict:
    """Your earnings: totals and per-epoch history per asset, per DAT and per iDAO."""
    data = selectors.user_earnings(request.user)
    data.pop("chart")
    data["lines"] = [
        {
            "id": p.pk,
            "epoch": p.epoch.number,
            "role": p.role,
            "idao": p.idao.slug,
            "dat_id": p.dat_id,
            "asset": p.asset,
            "amount": str(int(p.amount)),
            "ledger_tx": p.epoch.payout_tx_id,
            "proof_leaf_id": p.epoch.payout_leaf_id,
        }
        for p in data["lines"]
    ]
    data["grants"] = [
        {"idao": g.idao.slug, "amount": str(int(g.amount)), "ledger_tx": g.ledger_tx_id} for g in data["grants"]
    ]
    for row in data["history"]:
        row["closed_at"] = row["closed_at"].isoformat() if row["closed_at"] else None
    return data


class GrantIn(Schema):
    member: str
    amount: GrantAmount
    idempotency_key: str
    memo: str = ""


class GrantOut(Schema):
    id: int
    member: str
    amount: str
    ledger_tx: int | None


@router.post(
    "/rewards/idaos/{slug}/credit-grants",
    response=GrantOut,
    errors=(
        "not_found",
        "not_steward",
        "not_member",
        "insufficient_funds",
        "idempotency_key_reused",
        "invalid_grant",
        "over_steward_limit",
    ),
    auth=api_auth(scope="treasury"),
)
def credit_grant(request: PortalRequest, slug: Slug, payload: GrantIn) -> dict:
    """Stewards grant CREDIT from the iDAO treasury to a member; the key makes retries safe."""
    grant = credits.credit_grant(
        idao=idao_get(slug),
        steward=request.auth,
        member_address=payload.member,
        amount=payload.amount,
        request_key=payload.idempotency_key,
        memo=payload.memo,
    )
    return {
        "id": grant.pk,
        "member": grant.member.address,
        "amount": str(int(grant.amount)),
        "ledger_tx": grant.ledger_tx_id,
    }
