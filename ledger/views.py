"""Public ledger pages: anyone can browse blocks, transactions, accounts and verify proofs."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from pydantic import ValidationError

from portal.errors import DomainError
from portal.http import AuthedRequest, PortalRequest

from . import faucet, onchain, owners, selectors
from .errors import LeafNotSealed
from .schemas import HeadersQuery


def _or_404(call, *args):
    try:
        return call(*args)
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(exc.detail) from exc
        raise


def _json_error(exc: DomainError) -> JsonResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def index(request: PortalRequest) -> HttpResponse:
    context = {
        "blocks": selectors.block_list(limit=20),
        "supply": selectors.supply(),
        "queued": selectors.queued_count(),
    }
    template = "ledger/index.html#live" if request.htmx else "ledger/index.html"
    return render(request, template, context)


def block_page(request: HttpRequest, height: int) -> HttpResponse:
    block = _or_404(selectors.block_get, height)
    leaves = list(block.leaves().order_by("id").only("id", "kind", "subject", "transaction_id")[:500])
    return render(request, "ledger/block.html", {"blk": block, "leaves": leaves})


def block_json(request: HttpRequest, height: int) -> JsonResponse:
    """Alias of GET /api/v1/ledger/blocks/{height}."""
    try:
        return JsonResponse(selectors.block_dict(selectors.block_get(height)))
    except DomainError as exc:
        return _json_error(exc)


def headers_json(request: HttpRequest) -> JsonResponse:
    """Alias of GET /api/v1/ledger/headers (same bounds: after >= 0, 1 <= limit <= 1000)."""
    try:
        query = HeadersQuery.model_validate(request.GET.dict())
    except ValidationError:
        return JsonResponse(
            {"error": "invalid_input", "detail": "after is a height >= 0 and limit an integer from 1 to 1000."},
            status=422,
        )
    return JsonResponse(selectors.header_page(after=query.after, limit=query.limit))


def transaction_page(request: HttpRequest, tx_id: int) -> HttpResponse:
    tx = _or_404(selectors.transaction_get, tx_id)
    block = selectors.leaf_block(tx.leaf.pk) if hasattr(tx, "leaf") else None
    return render(
        request,
        "ledger/transaction.html",
        {"tx": tx, "postings": selectors.transaction_postings(tx), "tx_block": block},
    )


def account_page(request: HttpRequest, owner: str) -> HttpResponse:
    account = _or_404(selectors.account_get, owner)
    return render(
        request,
        "ledger/account.html",
        {
            "account": account,
            "balances": selectors.account_balances(account),
            "history": selectors.account_history(account, limit=200),
            "is_issuer": owner == owners.ISSUER,
            "faucet": faucet.faucet_enabled()
            and request.user.is_authenticated
            and owner == owners.user(request.user.address),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def account_statement(request: HttpRequest, owner: str) -> StreamingHttpResponse:
    """The account's full statement as CSV, oldest first, with the balance after each posting."""
    account = _or_404(selectors.account_get, owner)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(
            ["posting_id", "transaction_id", "time", "kind", "asset", "amount", "balance_after", "memo"]
        )
        for p in selectors.account_statement_rows(account):
            yield writer.writerow(
                [
                    p.pk,
                    p.transaction_id,
                    p.transaction.created_at.isoformat(),
                    p.transaction.kind,
                    p.asset,
                    int(p.amount),
                    int(p.balance_after),
                    p.transaction.memo,
                ]
            )

    safe = owner.replace(":", "_")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statement-{safe}.csv"'
    return response


def proof_page(request: HttpRequest, leaf_id: int) -> HttpResponse:
    leaf = _or_404(selectors.leaf_get, leaf_id)
    bundle = selectors.proof_bundle(leaf_id) if selectors.leaf_block(leaf.pk) else None
    public_rpc = onchain.public_rpc() if bundle and "chainAnchor" in bundle else ""
    response = render(request, "ledger/proof.html", {"leaf": leaf, "bundle": bundle, "public_rpc": public_rpc})
    if public_rpc:  # the Verify button may ask that node, and only that one (CSP connect-src)
        response._csp_update = {"connect-src": [onchain.origin(public_rpc)]}  # type: ignore[attr-defined]
    return response


def proof_json(request: HttpRequest, leaf_id: int) -> JsonResponse:
    """Alias of GET /api/v1/ledger/proofs/{leaf_id}, with Retry-After while the record is queued."""
    try:
        bundle = selectors.proof_bundle(leaf_id)
    except LeafNotSealed as exc:
        response = _json_error(exc)
        response["Retry-After"] = "5"
        return response
    except DomainError as exc:
        return _json_error(exc)
    return JsonResponse(bundle)


@login_required
def faucet_page(request: AuthedRequest) -> HttpResponse:
    """The demo LAZ faucet: a page with one button (404 unless PORTAL_DEMO is on)."""
    if not faucet.faucet_enabled():
        raise Http404("The LAZ faucet exists only on demo and test portals.")
    if request.method == "POST":
        try:
            tx = faucet.faucet_drip(address=request.user.address)
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"{faucet.faucet_amount():,} demo LAZ are yours (ledger transaction {tx.pk}).")
        return redirect("ledger:account", owner=owners.user(request.user.address))
    return render(request, "ledger/faucet.html", {"amount": faucet.faucet_amount()})
