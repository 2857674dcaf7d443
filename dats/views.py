"""The public provenance explorer: DAT search, the DAT page (lineage, round, verdicts, policy
history, usage, Verify), the provenance bundle download, owner actions, and model manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from idaos.models import IDAO
from ledger import onchain
from ledger.errors import LeafNotSealed
from portal.api import api as portal_api
from portal.errors import DomainError, NotFound
from portal.http import AuthedRequest, PortalRequest
from quorums.models import Seat, Verdict

from . import api, selectors, services
from .lineage import lineage_graph, render_svg
from .models import DAT, DatClass, DatEvent, EventKind
from .policies import USES, policy_of


def _dat_or_404(dat_id: int) -> DAT:
    try:
        return selectors.dat_get(dat_id)
    except NotFound as exc:
        raise Http404(exc.detail) from None


@require_GET
def dat_list(request: PortalRequest) -> HttpResponse:
    try:
        filters = selectors.Filters.parse(request.GET)
        limit = request.GET.get("limit", "")
        page = selectors.dat_page(
            filters, cursor=request.GET.get("after", ""), limit=int(limit) if limit.isdigit() else selectors.PAGE_SIZE
        )
        error = ""
    except DomainError as exc:
        filters, page, error = selectors.Filters(), selectors.Page(rows=[], next_cursor=None), exc.detail
    context = {
        "filters": filters,
        "page": page,
        "error": error,
        "classes": DatClass.choices,
        "idaos": IDAO.objects.order_by("name").values_list("slug", "name")[:200],
        "query": filters.as_query(),
    }
    template = "dats/explorer/list.html#results" if request.htmx else "dats/explorer/list.html"
    return render(request, template, context, status=422 if error else 200)


@require_GET
def dat_detail(request: PortalRequest, dat_id: int) -> HttpResponse:
    dat = _dat_or_404(dat_id)
    graph = lineage_graph(dat)
    r = dat.round
    verdicts = list(Verdict.objects.filter(round=r).select_related("validator").order_by("id"))
    seats = list(Seat.objects.filter(round=r).order_by("id"))
    snapshot = {s.validator_id: s.stake for s in seats}
    for v in verdicts:
        v.seat_stake = snapshot.get(v.validator_id)  # type: ignore[attr-defined]  # template-only attribute; the stake that weighed the verdict, not today's
    events = list(DatEvent.objects.filter(dat=dat).order_by("seq"))
    context: dict[str, Any] = {
        "dat": dat,
        "policy": policy_of(dat),
        "svg": mark_safe(render_svg(graph)),  # noqa: S308 - every text is escaped in render_svg
        "graph": graph,
        "round": r,
        "verdicts": verdicts,
        "seats": seats,
        "history": selectors.policy_history(dat),
        "transfers": [e for e in events if e.kind == EventKind.TRANSFER],
        "parent_events": [e for e in events if e.kind == EventKind.PARENTS],
        "usage": selectors.usage_of(dat),
        "uses": USES,
        "is_owner": request.user.is_authenticated and request.user.pk == dat.owner_id,
        "challenge": selectors.challenge_panel(dat),
        "public_rpc": onchain.public_rpc() if onchain.enabled() else "",
    }
    response = render(request, "dats/explorer/detail.html", context)
    if context["public_rpc"]:  # the Verify button may ask that node about chain anchors (CSP connect-src)
        response._csp_update = {"connect-src": [onchain.origin(context["public_rpc"])]}  # type: ignore[attr-defined]
    return response


@require_GET
def dat_bundle(request: PortalRequest, dat_id: int) -> HttpResponse:
    """Alias of GET /api/v1/dats/{dat_id}/bundle (the same reader, schema and error rendering),
    indented for reading; `?download=1` saves it as a file."""
    try:
        bundle = api.bundle_of(dat_id)
    except DomainError as exc:
        response = portal_api.on_exception(request, exc)
        if isinstance(exc, LeafNotSealed):
            response["Retry-After"] = "5"
        return response
    response = HttpResponse(
        json.dumps(bundle.model_dump(exclude_unset=True), indent=1), content_type="application/json"
    )
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="dat-{dat_id}-provenance.json"'
    return response


def _owner_action(request: PortalRequest, dat_id: int, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
        messages.success(request, done)
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("dats:dat_detail", dat_id=dat_id)


@login_required
@require_POST
def dat_challenge(request: AuthedRequest, dat_id: int) -> HttpResponse:
    """ "Challenge this DAT": the bond moves to escrow and a panel is drawn."""
    from .services.challenges import challenge_file

    return _owner_action(
        request,
        dat_id,
        lambda: challenge_file(
            dat_id=dat_id,
            user=request.user,
            reason_code=request.POST.get("reason_code", ""),
            evidence=request.POST.get("evidence", ""),
            duplicate_of=request.POST.get("duplicate_of", ""),
        ),
        "Challenge filed: the DAT is contested until a panel of validators decides.",
    )


@login_required
@require_POST
def dat_policy(request: AuthedRequest, dat_id: int) -> HttpResponse:
    changes: dict[str, object] = {"allowed_uses": request.POST.getlist("allowed_uses")}
    for name in ("price_credit", "quota", "expires_at"):
        if name in request.POST:
            changes[name] = request.POST[name].strip()
    return _owner_action(
        request,
        dat_id,
        lambda: services.dat_policy_change(dat_id=dat_id, actor=request.user, changes=changes),
        "Policy changed and anchored.",
    )


@login_required
@require_POST
def dat_revoke(request: AuthedRequest, dat_id: int) -> HttpResponse:
    return _owner_action(
        request,
        dat_id,
        lambda: services.dat_revoke(dat_id=dat_id, actor=request.user),
        "Policy revoked: no new access will be granted.",
    )


@login_required
@require_POST
def dat_transfer(request: AuthedRequest, dat_id: int) -> HttpResponse:
    to = request.POST.get("to", "").strip()
    return _owner_action(
        request,
        dat_id,
        lambda: services.dat_transfer(dat_id=dat_id, actor=request.user, to_address=to),
        f"Transferred to {to}.",
    )


@require_GET
def model_manifest(request: PortalRequest, model_id: int) -> HttpResponse:
    version = request.GET.get("version")
    try:
        manifest = selectors.manifest_of(model_id, version=int(version) if version and version.isdigit() else None)
    except NotFound as exc:
        raise Http404(exc.detail) from None
    return render(request, "dats/explorer/model.html", {"manifest": manifest})
