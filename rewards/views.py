"""Earnings pages: mine, an iDAO's (members), an epoch's (public), a DAT's fragment."""

from __future__ import annotations

import csv
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dats.models import DAT
from idaos import selectors as idao_selectors
from idaos.models import IDAO
from portal.errors import DomainError, NotFound
from portal.http import AuthedRequest, PortalRequest

from . import selectors
from .services import credits


def _or_404(fn, *args):
    try:
        return fn(*args)
    except NotFound as exc:
        raise Http404(exc.detail) from exc


def _idao_for_member(request: PortalRequest, slug: str) -> IDAO:
    idao = _or_404(idao_selectors.idao_get, slug)
    if not idao_selectors.is_member(idao=idao, user=request.user):
        raise PermissionDenied("Only members of this iDAO see its earnings.")
    return idao


@login_required
def my_earnings(request: AuthedRequest) -> HttpResponse:
    data = selectors.user_earnings(request.user)
    template = "rewards/earnings.html#earnings-body" if request.htmx else "rewards/earnings.html"
    return render(request, template, {**data, "open": selectors.open_epoch_usage()})


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def my_earnings_csv(request: AuthedRequest) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(
            ["epoch", "closed_at", "asset", "role", "idao", "dat_id", "amount", "ledger_tx", "proof_leaf", "payout_id"]
        )
        for epoch, closed_at, asset, role, idao, dat_id, amount, tx, leaf, pk in selectors.user_payout_lines(
            request.user
        ):
            yield writer.writerow(
                [
                    epoch,
                    closed_at.isoformat() if closed_at else "",
                    asset,
                    role,
                    idao,
                    dat_id or "",
                    int(amount),
                    tx or "",
                    leaf or "",
                    pk,
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="earnings.csv"'
    return response


@login_required
def idao_earnings(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _idao_for_member(request, slug)
    steward = idao_selectors.is_steward(idao=idao, user=request.user)
    context = {
        **selectors.idao_earnings(idao),
        "idao": idao,
        "is_steward": steward,
        "request_key": secrets.token_urlsafe(12),
        "members": idao_selectors.member_addresses(idao) if steward else [],
    }
    return render(request, "rewards/idao_earnings.html", context)


@login_required
@require_POST
def idao_credit_grant(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _idao_for_member(request, slug)
    try:
        amount = int(request.POST.get("amount", ""))
    except ValueError:
        amount = 0
    try:
        grant = credits.credit_grant(
            idao=idao,
            steward=request.user,
            member_address=request.POST.get("member", ""),
            amount=amount,
            request_key=request.POST.get("request_key", ""),
            memo=request.POST.get("memo", ""),
        )
        messages.success(request, f"Granted {int(grant.amount)} CREDIT to {grant.member.short_address}.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("rewards:idao", slug=idao.slug)


def epoch_list(request: PortalRequest) -> HttpResponse:
    return render(
        request, "rewards/epochs.html", {"epochs": selectors.epoch_list(), "open": selectors.open_epoch_usage()}
    )


def epoch_page(request: PortalRequest, number: int) -> HttpResponse:
    epoch = _or_404(selectors.epoch_get, number)
    return render(request, "rewards/epoch.html", {"epoch": epoch, **selectors.epoch_detail(epoch)})


def payout_proof(request: PortalRequest, number: int, payout_id: int) -> JsonResponse:
    try:
        return JsonResponse(selectors.payout_proof(selectors.epoch_get(number), payout_id))
    except NotFound as exc:  # a .json address answers JSON, errors included
        return JsonResponse(exc.as_dict(), status=404)


def dat_earnings(request: PortalRequest, dat_id: int) -> HttpResponse:
    """'Usage and earnings of this DAT': the fragment for htmx (the DAT page loads it), else a page."""
    if not DAT.objects.filter(pk=dat_id).exists():
        raise Http404("There is no such DAT.")
    template = "rewards/dat_earnings.html#dat-earnings" if request.htmx else "rewards/dat_earnings.html"
    return render(request, template, {"earn": selectors.dat_earnings(dat_id)})
