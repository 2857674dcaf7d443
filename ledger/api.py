"""Read-only ledger API (value moves only through ledger.services, called by other apps). The
`.json` pages under /ledger/ are aliases of these operations (same selectors, same shapes)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query
from pydantic import ValidationError

from portal.auth import api_auth
from portal.errors import DomainError, Forbidden
from portal.http import PortalRequest
from portal.parsing import parse_json
from portal.routers import PortalRouter
from portal.schemas import Id

from . import faucet, owners, selectors, services
from .models import Leaf
from .schemas import (
    BalancesOut,
    BlockOut,
    FaucetOut,
    HeaderPageOut,
    HeadersQuery,
    Height,
    Owner,
    ProofOut,
    TransfersIn,
    TransfersOut,
)

router = PortalRouter(tags=["ledger"])


@router.get(
    "/accounts/{owner}/balances",
    response=BalancesOut,
    errors=("account_not_found",),
    summary="Balances of one account per asset",
)
def account_balances(request: HttpRequest, owner: Owner) -> dict:
    return selectors.balances_dict(owner)


@router.get("/supply", response=dict[str, str], summary="Units in circulation per asset")
def supply(request: HttpRequest) -> dict[str, str]:
    return {asset: str(amount) for asset, amount in selectors.supply().items()}


@router.get("/headers", response=HeaderPageOut, summary="Block headers in height order, paginated by `after`")
def headers(request: HttpRequest, query: Query[HeadersQuery]) -> dict:
    return selectors.header_page(after=query.after, limit=query.limit)


@router.get("/blocks/{height}", response=BlockOut, errors=("block_not_found",), summary="One block with its leaf ids")
def block(request: HttpRequest, height: Height) -> dict:
    return selectors.block_dict(selectors.block_get(height))


@router.get(
    "/proofs/{leaf_id}",
    response=ProofOut,
    exclude_unset=True,  # chainAnchor appears once the block is anchored on a chain
    errors=("leaf_not_found", "leaf_not_sealed"),
    summary="The proof bundle of an anchored record (409 leaf_not_sealed while it is queued)",
)
def proof(request: HttpRequest, leaf_id: Id) -> dict:
    return selectors.proof_bundle(leaf_id)


@router.post(
    "/faucet",
    auth=api_auth(scope=None),
    response=FaucetOut,
    errors=("not_found", "rate_limited"),
    summary="Draw today's demo LAZ (only where PORTAL_DEMO=true; once per UTC day)",
)
def faucet_draw(request: PortalRequest) -> dict:
    tx = faucet.faucet_drip(address=request.auth.address)
    owner = owners.user(request.auth.address)
    return {
        "owner": owner,
        "asset": "LAZ",
        "amount": str(faucet.faucet_amount()),
        "transaction_id": tx.pk,
        "balance": str(selectors.balance(owner, "LAZ")),
    }


# --- POST /transfers: batched transfers (staff, or a bearer token with the `treasury` scope) ---
MAX_TRANSFERS_BODY = 1 << 20  # 1,000 transfers between long owner names fit well within 1 MiB


def _transfers_in(request: HttpRequest) -> TransfersIn:
    # Read here rather than by ninja: a full batch is larger than the site-wide body limit.
    raw = request.read(MAX_TRANSFERS_BODY + 1)
    if len(raw) > MAX_TRANSFERS_BODY:
        raise DomainError(
            f"A transfer batch is at most {MAX_TRANSFERS_BODY:,} bytes; split it.", code="payload_too_large", status=413
        )
    # The API's own JSON rules (depth, NUL and lone surrogates, strict UTF-8) apply here too.
    data = parse_json(raw)
    try:
        return TransfersIn.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        raise DomainError("; ".join(parts), code="invalid_input", status=422) from None


def _require_staff_session(request: HttpRequest) -> None:
    # A token's `treasury` scope is checked by its auth; a session is not scope-limited, so a
    # session must be staff's.
    if getattr(request, "api_token", None) is None and not request.user.is_staff:
        raise Forbidden("Only staff (or a token with the `treasury` scope) may post transfers.", code="staff_only")


@router.post(
    "/transfers",
    response=TransfersOut,
    errors=(
        "staff_only",
        "insufficient_funds",
        "idempotency_key_reused",
        "invalid_amount",
        "unknown_asset",
        "invalid_transaction",
        "payload_too_large",
        "invalid_json",
        "nesting_too_deep",
    ),
    auth=api_auth(scope="treasury"),
    summary="Apply up to 1,000 transfers in one ledger transaction, each with its own key and result",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": TransfersIn.model_json_schema()}}}
    },
)
def transfers(request: HttpRequest) -> dict[str, Any]:
    """With `atomic` (the default) the first refusal answers 409/422 and nothing moves; without it
    each transfer is applied, replayed or refused on its own and the answer is 200."""
    _require_staff_session(request)
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
