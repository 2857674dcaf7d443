"""The public provenance explorer: DAT search, the DAT page (lineage, round, verdicts, policy
history, usage, Verify), the provenance bundle download, owner actions, and model manifests."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from contributions.models import Contribution
from idaos.models import IDAO
from ledger import onchain, owners
from ledger import selectors as ledger_selectors
from ledger.errors import LeafNotSealed
from portal.api import api as portal_api
from portal.errors import DomainError, NotFound
from portal.http import AuthedRequest, PortalRequest
from quorums.models import Seat, Verdict
from quorums.selectors import verdicts_sealed

from . import api, selectors, services
from .lineage import lineage_graph, render_svg
from .models import DAT, DatClass, DatEvent, DeclaredLineage, EventKind
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
    # While a challenge panel re-decides the DAT's round, its verdicts are sealed as for an appeal.
    sealed = verdicts_sealed(r)
    verdicts = [] if sealed else list(Verdict.objects.filter(round=r).select_related("validator").order_by("id"))
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
        "verdicts_sealed": sealed,
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


# --- access from the page: a person pays from their own CREDIT, then downloads ---------------


@login_required
def dat_access_page(request: AuthedRequest, dat_id: int) -> HttpResponse:
    """The terms (uses, price, quota left, expiry), your CREDIT, your grant and its download; POST
    asks for access through the same service as POST /api/v1/dats/{id}/access, paid by you."""
    dat = _dat_or_404(dat_id)
    if request.method == "POST":
        try:
            result = services.access_request(
                dat_id=dat.pk,
                token=None,
                user=request.user,
                use=request.POST.get("use", ""),
                idempotency_key=request.POST.get("request_key", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            grant = result.grant
            messages.success(
                request,
                f"Access granted for {grant.use}: {grant.fee} CREDIT paid. Download it before "
                f"{grant.valid_until:%Y-%m-%d %H:%M} UTC.",
            )
        return redirect("dats:dat_access", dat_id=dat.pk)
    policy = policy_of(dat)
    context = {
        "dat": dat,
        "policy": policy,
        "quota_left": None if policy.quota is None else max(policy.quota - dat.used, 0),
        "balance": ledger_selectors.balance(owners.user(request.user.address), "CREDIT"),
        "grant": selectors.valid_grant(dat=dat, user=request.user),
        "is_owner": dat.owner_id == request.user.pk,
        "request_key": secrets.token_urlsafe(12),
    }
    return render(request, "dats/access.html", context)


# --- lineage: declare parents with a DAT picker (search as you type) ----------------------------


@require_GET
def dat_picker(request: PortalRequest) -> HttpResponse:
    """The picker's results fragment (htmx asks it as you type)."""
    exclude = request.GET.get("exclude", "")
    field = request.GET.get("field", "parents")
    if field not in ("parents", "dats"):
        field = "parents"
    chosen_ids = [int(v) for v in request.GET.getlist(field) if v.isdigit() and len(v) < 19][:50]
    chosen = list(DAT.objects.select_related("idao").filter(pk__in=chosen_ids).order_by("-id"))
    rows = [
        d
        for d in selectors.dat_picker(request.GET.get("q", ""), exclude=int(exclude) if exclude.isdigit() else None)
        if d.pk not in chosen_ids
    ]
    context = {"results": rows, "chosen": chosen, "field": field, "q": request.GET.get("q", "")}
    return render(request, "dats/_picker.html#results", context)


def _parents_page(
    request: AuthedRequest,
    *,
    subject: str,
    back: str,
    current: list[DAT],
    exclude: int | None,
    declare: Callable[[list[Any]], object],
) -> HttpResponse:
    """One page for both lineage forms: a DAT's owner adds parents, a contributor declares them
    before the DAT is minted. The picker searches as you type (htmx); without script, `?q=`."""
    if request.method == "POST":
        chosen = request.POST.getlist("parents")
        try:
            declare([int(c) if c.isdigit() else c for c in chosen])
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"Lineage declared: derived from {', '.join('DAT #' + c for c in chosen)}.")
            return redirect(back)
    q = request.GET.get("q", "")
    context = {
        "subject": subject,
        "back": back,
        "current": current,
        "exclude": exclude or "",
        "q": q,
        "results": selectors.dat_picker(q, exclude=exclude),
        "field": "parents",
    }
    return render(request, "dats/parents.html", context)


@login_required
def dat_parents_page(request: AuthedRequest, dat_id: int) -> HttpResponse:
    dat = _dat_or_404(dat_id)
    if dat.owner_id != request.user.pk:
        raise Http404("Only the DAT's owner declares its parents.")
    parents = list(DAT.objects.filter(child_links__child=dat).order_by("pk"))
    return _parents_page(
        request,
        subject=f"DAT #{dat.pk} “{dat.title}”",
        back=f"/dats/{dat.pk}/",
        current=parents,
        exclude=dat.pk,
        declare=lambda ids: services.dat_parents_add(dat_id=dat.pk, actor=request.user, parent_ids=ids),
    )


@login_required
def contribution_parents_page(request: AuthedRequest, public_id: str) -> HttpResponse:
    contribution = Contribution.objects.filter(public_id=public_id, owner=request.user).first()
    if contribution is None:
        raise Http404("You have no such contribution.")
    declared = DeclaredLineage.objects.filter(contribution=contribution).values_list("parent_ids", flat=True).first()
    return _parents_page(
        request,
        subject=f"your contribution “{contribution.title}”",
        back="/contributions/mine",
        current=list(DAT.objects.filter(pk__in=declared or []).order_by("pk")),
        exclude=None,
        declare=lambda ids: services.lineage_declare(
            contribution_id=contribution.pk, parent_ids=ids, actor=request.user
        ),
    )
