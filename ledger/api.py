"""Read-only ledger API (value moves only through ledger.services, called by other apps)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from . import selectors

router = Router(tags=["ledger"])


@router.get("/accounts/{owner}/balances", summary="Balances of one account per asset")
def account_balances(request: HttpRequest, owner: str) -> dict:
    account = selectors.account_get(owner)
    return {"owner": owner, "balances": {k: str(v) for k, v in selectors.account_balances(account).items()}}


@router.get("/supply", summary="Units in circulation per asset")
def supply(request: HttpRequest) -> dict:
    return {asset: str(amount) for asset, amount in selectors.supply().items()}


@router.get("/headers", summary="Block headers in height order, paginated by `after`")
def headers(request: HttpRequest, after: int = 0, limit: int = 500) -> dict:
    return selectors.header_page(after=after, limit=limit)


@router.get("/proofs/{leaf_id}", summary="The proof bundle of an anchored record")
def proof(request: HttpRequest, leaf_id: int) -> dict:
    return selectors.proof_bundle(leaf_id)


# --- POST /transfers: batched transfers (staff, or a bearer token with the `treasury` scope) ---
import json  # noqa: E402
from typing import Literal  # noqa: E402

from ninja import Field, Schema  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from portal.auth import api_auth  # noqa: E402
from portal.errors import DomainError, Forbidden  # noqa: E402

from . import services  # noqa: E402
from .models import Asset, Kind, Leaf  # noqa: E402

TREASURY_SCOPE = "treasury"
MAX_TRANSFERS_BODY = 1 << 20  # 1,000 transfers between long owner names fit well within 1 MiB


class ErrorOut(Schema):
    error: str
    detail: str


class TransferItemIn(Schema):
    source: str = Field(description="Owner paying, `<kind>:<name>`")
    destination: str
    asset: Literal[tuple(Asset.values)]  # type: ignore[valid-type]
    amount: str = Field(description="Decimal integer in the asset's smallest unit", pattern=r"^[0-9]{1,78}$")
    kind: Literal[tuple(Kind.values)] = "transfer"  # type: ignore[valid-type]
    idempotency_key: str = Field(min_length=1, max_length=200)
    memo: str = Field("", max_length=500)


class TransfersIn(Schema):
    transfers: list[TransferItemIn] = Field(min_length=1, max_length=services.MAX_BATCH)
    atomic: bool = Field(True, description="All or nothing (true) or each transfer on its own (false)")


class TransferResultOut(Schema):
    status: Literal["applied", "replayed", "refused"]
    transaction_id: int | None
    leaf_id: int | None
    error: str | None = None
    detail: str | None = None


class TransfersOut(Schema):
    applied: int
    replayed: int
    refused: int
    results: list[TransferResultOut]


def _transfers_in(request: HttpRequest) -> TransfersIn:
    # Read here rather than by ninja: a full batch is larger than the site-wide body limit.
    raw = request.read(MAX_TRANSFERS_BODY + 1)
    if len(raw) > MAX_TRANSFERS_BODY:
        raise DomainError(
            f"A transfer batch is at most {MAX_TRANSFERS_BODY:,} bytes; split it.", code="payload_too_large", status=413
        )
    try:
        return TransfersIn.model_validate(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
            raise DomainError("; ".join(parts), code="invalid_input", status=422) from None
        raise DomainError("The body is not JSON.", code="invalid_json", status=422) from None


def _require_treasury(request: HttpRequest) -> None:
    token = getattr(request, "api_token", None)
    if token is not None:
        if TREASURY_SCOPE not in (token.scopes or []):
            raise Forbidden("This token lacks the treasury scope.", code="token_scope")
    elif not request.user.is_staff:
        raise Forbidden("Only staff (or a token with the `treasury` scope) may post transfers.", code="forbidden")


@router.post(
    "/transfers",
    response={200: TransfersOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    auth=api_auth,
    summary="Apply up to 1,000 transfers in one ledger transaction, each with its own key and result",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": TransfersIn.model_json_schema()}}}
    },
)
def transfers(request: HttpRequest) -> dict:
    """With `atomic` (the default) the first refusal answers 409/422 and nothing moves; without it
    each transfer is applied, replayed or refused on its own and the answer is 200."""
    _require_treasury(request)
    payload = _transfers_in(request)
    results = services.transfers_post(
        transfers=[
            services.TransferIn(
                source=t.source,
                destination=t.destination,
                asset=t.asset,
                amount=int(t.amount),
                kind=t.kind,
                idempotency_key=t.idempotency_key,
                memo=t.memo,
            )
            for t in payload.transfers
        ],
        atomic=payload.atomic,
    )
    leaves = dict(
        Leaf.objects.filter(transaction_id__in=[r.transaction.pk for r in results if r.transaction]).values_list(
            "transaction_id", "id"
        )
    )
    out = [
        {
            "status": r.status,
            "transaction_id": r.transaction.pk if r.transaction else None,
            "leaf_id": leaves.get(r.transaction.pk) if r.transaction else None,
            "error": r.code,
            "detail": r.error.detail if r.error else None,
        }
        for r in results
    ]
    return {
        "applied": sum(r.status == services.APPLIED for r in results),
        "replayed": sum(r.status == services.REPLAYED for r in results),
        "refused": sum(r.status == services.REFUSED for r in results),
        "results": out,
    }
