"""Pages: directory, iDAO page, membership management, AI assets, proposals, ballots, exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.errors import DomainError
from portal.http import AuthedRequest, PortalRequest

from . import delegate_selectors, eip712, hooks, option_results, overview, selectors
from .forms import AgentForm, IdaoForm, ModelForm, ProposalForm, StatementForm
from .models import Agent, Ballot, Domain, Membership, ModelVersion, Proposal
from .services import assets, delegations, proposals
from .services import membership as membership_services
from .services.idaos import idao_create


def _idao(slug: str):
    try:
        return selectors.idao_get(slug)
    except DomainError:
        raise Http404(f"There is no iDAO “{slug}”.") from None


def _proposal(request: PortalRequest, proposal_id: int) -> Proposal:
    """The proposal if this viewer may see it (selectors.proposals_visible), else 404."""
    try:
        return selectors.proposal_get(proposal_id, user=request.user)
    except DomainError:
        raise Http404("There is no such proposal.") from None


def _steward_idao(request: PortalRequest, slug: str):
    idao = _idao(slug)
    if not selectors.is_steward(idao=idao, user=request.user):
        raise PermissionDenied(f"Only stewards of {idao.name} may manage it.")
    return idao


@require_GET
def directory(request: PortalRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:100]
    domain = request.GET.get("domain", "")
    if domain not in Domain.values:
        domain = ""
    items = selectors.idao_list(q=q, domain=domain, limit=100, activity=True)
    context = {"idaos": items, "q": q, "domain": domain, "domains": Domain.choices}
    if request.htmx:
        return render(request, "idaos/directory.html#results", context)
    return render(request, "idaos/directory.html", context)


@login_required
def idao_new(request: AuthedRequest) -> HttpResponse:
    form = IdaoForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            idao = idao_create(
                creator=request.user,
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                domain=form.cleaned_data["domain"],
                description=form.cleaned_data["description"],
                charter=form.charter(),
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{idao.name} is formed; you are its first steward.")
            return redirect("idaos:detail", slug=idao.slug)
    return render(request, "idaos/idao_form.html", {"form": form})


@require_GET
def idao_detail(request: PortalRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    return render(request, "idaos/idao_detail.html", selectors.idao_page(idao, request.user))


@login_required
@require_POST
def idao_join(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    try:
        m = membership_services.membership_join(idao=idao, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, "Welcome: you are a member." if m.status == "active" else "Request sent to the stewards."
        )
    return redirect("idaos:detail", slug=slug)


@login_required
@require_POST
def idao_leave(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    try:
        membership_services.membership_leave(idao=idao, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"You left {idao.name}.")
    return redirect("idaos:detail", slug=slug)


@login_required
def members(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _steward_idao(request, slug)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            membership_id = int(request.POST.get("membership", "0"))
            if action in ("approve", "deny"):
                membership_services.membership_decide(
                    idao=idao, steward=request.user, membership_id=membership_id, approve=action == "approve"
                )
            elif action in ("member", "steward"):
                membership_services.membership_set_role(
                    idao=idao, steward=request.user, membership_id=membership_id, role=action
                )
            else:
                raise DomainError("Unknown action.", code="invalid_input", status=422)
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "detail", "The membership id is not a number."))
        else:
            messages.success(request, "Done.")
        return redirect("idaos:members", slug=slug)
    rows = Membership.objects.filter(idao=idao, status__in=["pending", "active"]).select_related("user")
    return render(request, "idaos/members.html", {"idao": idao, "memberships": rows.order_by("status", "id")})


def _asset_new(
    request: AuthedRequest, slug: str, form_class: type[forms.Form], what: str, register: Callable[..., None]
) -> HttpResponse:
    """A steward's form for a new model or agent: `register(idao, steward, cleaned_data)` writes it."""
    idao = _steward_idao(request, slug)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            register(idao, request.user, form)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{what.capitalize()} registered.")
            return redirect("idaos:detail", slug=slug)
    return render(request, "idaos/asset_form.html", {"idao": idao, "form": form, "what": what})


@login_required
def model_new(request: AuthedRequest, slug: str) -> HttpResponse:
    def register(idao, steward, form) -> None:
        assets.aimodel_register(
            idao=idao,
            steward=steward,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            artifact_hash=form.cleaned_data["artifact_hash"],
            manifest=form.refs(),
        )

    return _asset_new(request, slug, ModelForm, "model", register)


@login_required
def agent_new(request: AuthedRequest, slug: str) -> HttpResponse:
    def register(idao, steward, form) -> None:
        assets.agent_register(
            idao=idao,
            steward=steward,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            behaviour_policy=form.cleaned_data["behaviour_policy"],
            artifact_hash=form.cleaned_data.get("artifact_hash", ""),
        )

    return _asset_new(request, slug, AgentForm, "agent", register)


@require_GET
def agent_detail(request: PortalRequest, slug: str, agent_id: int) -> HttpResponse:
    """An agent's current behaviour policy and its versions (GET /api/v1/agents/{id} as a page)."""
    idao = _idao(slug)
    try:
        agent = selectors.agent_get(agent_id)
    except DomainError as exc:
        raise Http404(exc.detail) from None
    if agent.idao_id != idao.pk:
        raise Http404("This iDAO has no such agent.")
    data = selectors.agent_dict(agent)
    for v in data["versions"]:
        v["policy_json"] = json.dumps(v["behaviour_policy"], indent=2, sort_keys=True)
    return render(request, "idaos/agent_detail.html", {"idao": idao, "agent": agent, "data": data})


@require_GET
def proposal_list(request: PortalRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    qs = selectors.proposal_list(idao=idao, user=request.user)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "idaos/proposal_list.html", {"idao": idao, "page": page})


_PREFILL = ("kind", "title", "description", "model", "agent", "quorum")


def _builder_initial(request: AuthedRequest, idao) -> dict:
    """What the builder starts with: ?kind=include_data&model=3 ("Propose data for it") and the
    agent's current policy to edit when an agent is named."""
    initial: dict = {k: request.GET[k] for k in _PREFILL if request.GET.get(k)}
    initial.setdefault("kind", "signal")
    agent_id = request.GET.get("agent", "")
    if agent_id.isdigit():
        agent = Agent.objects.filter(pk=int(agent_id), idao=idao).first()
        if agent is not None:
            initial["behaviour_policy"] = json.dumps(agent.behaviour_policy, indent=2, sort_keys=True)
    return initial


def _manifest_choices(idao, model_id: object) -> list[str]:
    """The current manifest of the chosen model (remove_data picks from it)."""
    if not str(model_id or "").isdigit():
        return []
    version = ModelVersion.objects.filter(model_id=int(str(model_id)), model__idao=idao, current=True).first()
    return list(version.manifest.order_by("id").values_list("data_ref", flat=True)) if version else []


def _picked(values: list[str]) -> list[tuple[str, str]]:
    """The DATs ticked before a preview, kept ticked with their names when the form comes back."""
    refs = [f"dat:{v}" for v in dict.fromkeys(values) if v.isdigit() and len(v) < 19][:50]
    known = hooks.describe_data_refs(refs)
    return [(ref[4:], known[ref]["label"]) for ref in refs if ref in known]


def proposals_all(request: PortalRequest) -> HttpResponse:
    """Proposals across every iDAO: a state filter (open by default) and a title/iDAO search."""
    state = request.GET.get("state", "open")
    if state not in overview.LIST_STATES:
        state = "open"
    q = request.GET.get("q", "")[:100]
    context = {
        "proposals": overview.proposals_across(user=request.user, state=state, q=q, limit=100),
        "state": state,
        "states": list(overview.LIST_STATES),
        "q": q,
    }
    if request.htmx:
        return render(request, "idaos/proposals_all.html#results", context)
    return render(request, "idaos/proposals_all.html", context)


@login_required
def my_votes(request: AuthedRequest) -> HttpResponse:
    """The signed-in person's counted ballots across iDAOs: choice, weight, when, receipt."""
    return render(request, "idaos/my_votes.html", {"ballots": overview.my_ballots(request.user)})


@login_required
def proposal_new(request: AuthedRequest, slug: str) -> HttpResponse:
    """The proposal builder: pick what the action names from lists, preview it in plain words
    (with warnings), create it; the raw JSON payload stays under "details"."""
    idao = _idao(slug)
    form = ProposalForm(request.POST or None, idao=idao, initial=_builder_initial(request, idao))
    preview = None
    if request.method == "POST" and form.is_valid():
        kind, payload = form.cleaned_data["kind"], form.cleaned_data["payload"] or {}
        if request.POST.get("preview"):
            try:
                cleaned = proposals.proposal_validate(idao=idao, kind=kind, payload=payload)
            except DomainError as exc:
                form.add_error(None, exc.detail)
                warnings = selectors.data_warnings(idao=idao, kind=kind, payload=payload)
                preview = {"sentence": "", "warnings": warnings, "payload_json": json.dumps(payload, indent=2)}
            else:
                preview = {
                    **selectors.proposal_preview(idao=idao, kind=kind, payload=cleaned),
                    "payload_json": json.dumps(cleaned, indent=2),
                }
        else:
            try:
                proposal = proposals.proposal_create(
                    idao=idao,
                    author=request.user,
                    kind=kind,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    payload=payload,
                    submit=form.cleaned_data["submit_now"],
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                return redirect("idaos:proposal", proposal_id=proposal.pk)
    kind = form["kind"].value() or "signal"
    context = {
        "idao": idao,
        "form": form,
        "kind": kind,
        "preview": preview,
        "manifest": _manifest_choices(idao, form["model"].value()),
        "picked": _picked(request.POST.getlist("dats")),
    }
    template = (
        "idaos/proposal_form.html#builder" if request.htmx and request.method == "GET" else "idaos/proposal_form.html"
    )
    return render(request, template, context)


@require_GET
def proposal_detail(request: PortalRequest, proposal_id: int) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    partial = request.GET.get("partial")
    if request.htmx and partial in ("tally", "voters"):
        context = selectors.proposal_partial(proposal, partial, request.user)
        return render(request, f"idaos/proposal_detail.html#{partial}", context)
    context = selectors.proposal_page(proposal, request.user)
    if request.user.is_authenticated:
        context["delegate_form"] = delegate_selectors.delegate_form_context(
            viewer=request.user, delegate=None, idaos=[proposal.idao], scope=f"idao:{proposal.idao.slug}"
        )
    return render(request, "idaos/proposal_detail.html", context)


@login_required
@require_POST
def proposal_action(request: AuthedRequest, proposal_id: int, action: str) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    try:
        if action == "submit":
            proposals.proposal_submit(proposal_id=proposal.pk, author=request.user)
            messages.success(request, "Submitted.")
        elif action == "cancel":
            proposals.proposal_cancel(proposal_id=proposal.pk, author=request.user)
            messages.success(request, "Cancelled.")
        else:
            raise Http404
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("idaos:proposal", proposal_id=proposal.pk)


def _export_rows(proposal: Proposal):
    return Ballot.objects.filter(proposal=proposal).order_by("id").iterator(chunk_size=2000)


@require_GET
def ballots_export(request: PortalRequest, proposal_id: int, fmt: str) -> HttpResponse:
    """Every signed ballot with its signature; the JSON also carries the voting-power snapshot, the
    counting rule and the ledger proof of the result, so `manage.py recount` needs nothing else."""
    try:
        proposal = selectors.proposal_exported(proposal_id)
    except DomainError as exc:
        if fmt == "json":  # the alias of GET /api/v1/proposals/{id}/ballots answers as it does
            return JsonResponse(exc.as_dict(), status=exc.status)
        raise Http404("There is no such proposal.") from None
    if fmt == "json":
        response: HttpResponse = JsonResponse(selectors.proposal_export(proposal), json_dumps_params={"indent": 1})
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        writer = csv.writer(response)
        writer.writerow(
            [
                "id",
                "voter",
                "idao",
                "proposal",
                "choice",
                "reason",
                "timestamp",
                "weight",
                "counted",
                "digest",
                "signature",
                "received_at",
            ]
        )
        for b in _export_rows(proposal):
            writer.writerow(
                [
                    b.pk,
                    b.voter,
                    b.message["idao"],
                    b.message["proposal"],
                    b.choice,
                    b.reason,
                    b.timestamp,
                    int(b.weight),
                    b.counted,
                    b.digest,
                    b.signature,
                    b.received_at.isoformat(),
                ]
            )
    name = f"proposal-{proposal.pk}.json" if fmt == "json" else f"proposal-{proposal.pk}-ballots.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def ballot_receipt(request: PortalRequest, ballot_id: int) -> HttpResponse:
    ballot = Ballot.objects.select_related("proposal__idao").filter(pk=ballot_id).first()
    if ballot is None:
        raise Http404("There is no such ballot.")
    typed = eip712.typed_data(ballot.message)
    return render(
        request,
        "idaos/ballot_receipt.html",
        {
            "ballot": ballot,
            "proposal": ballot.proposal,
            "typed_json": json.dumps(typed, indent=1),
            # An OptionBallot's options in words, e.g. "ranked 1. Curie, 2. Ada".
            "picked": option_results.picked_in_words(
                ballot.proposal.payload["method"], ballot.proposal.payload["options"], ballot.message["options"]
            )
            if ballot.choice == "options"
            else "",
            **delegate_selectors.receipt_context(ballot),
        },
    )


@require_GET
def eip712_json(request: PortalRequest) -> JsonResponse:
    """Alias of GET /api/v1/governance/eip712."""
    return JsonResponse(eip712.published())


# Delegation pages (docs/governance.md "Delegation"); signing happens in static/js/delegate.js.


@require_GET
def idao_delegates(request: PortalRequest, slug: str) -> HttpResponse:
    return render(request, "idaos/delegates.html", delegate_selectors.idao_delegates(_idao(slug)))


@require_GET
def domain_delegates(request: PortalRequest, domain: str) -> HttpResponse:
    if domain not in Domain.values:
        raise Http404(f"There is no domain “{domain}”.")
    return render(request, "idaos/delegates.html", delegate_selectors.domain_delegates(domain))


@login_required
@require_GET
def my_delegations(request: AuthedRequest) -> HttpResponse:
    return render(request, "idaos/my_delegations.html", delegate_selectors.delegations_page(request.user.address))


@login_required
@require_POST
def statement_edit(request: AuthedRequest, address: str) -> HttpResponse:
    """Publish the signed-in person's delegate statement (shown on their profile page)."""
    if address.lower() != request.user.address.lower():
        raise PermissionDenied("You can only edit your own statement.")
    form = StatementForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    else:
        try:
            delegations.delegate_statement_set(user=request.user, text=form.cleaned_data["text"])
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Your statement is published.")
    return redirect("person", address=request.user.address)
