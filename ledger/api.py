"""Read-only ledger API (value moves only through ledger.services, called by other apps). The
`.json` pages under /ledger/ are aliases of these operations (same selectors, same shapes)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query

from portal.routers import PortalRouter
from portal.schemas import Id

from . import selectors
from .schemas import BalancesOut, BlockOut, HeaderPageOut, HeadersQuery, Height, Owner, ProofOut

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
    errors=("leaf_not_found", "leaf_not_sealed"),
    summary="The proof bundle of an anchored record (409 leaf_not_sealed while it is queued)",
)
def proof(request: HttpRequest, leaf_id: Id) -> dict:
    return selectors.proof_bundle(leaf_id)
