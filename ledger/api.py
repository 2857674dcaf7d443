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
