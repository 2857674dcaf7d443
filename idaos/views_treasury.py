"""Pages of the treasury (balance, inflows, outflows, streams), the treasury proposal form, the
guardian veto and the discussion thread of a proposal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.errors import DomainError
from portal.http import AuthedRequest, PortalRequest

from . import selectors, selectors_treasury
from .forms_treasury import CommentForm, ReasonForm, TreasuryProposalForm
from .services import comments, proposals, treasury


def _idao(slug: str):
    try:
        return selectors.idao_get(slug)
    except DomainError:
        raise Http404(f"There is no iDAO “{slug}”.") from None


def _proposal(request: PortalRequest, proposal_id: int):
    try:
        return selectors.proposal_get(proposal_id, user=request.user)
    except DomainError:
        raise Http404("There is no such proposal.") from None


@require_GET
def treasury_page(request: PortalRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    context = selectors_treasury.treasury_get(idao)
    context["idao_obj"] = idao
    context["is_member"] = selectors.is_member(idao=idao, user=request.user)
    return render(request, "idaos/treasury.html", context)


@login_required
def treasury_proposal_new(request: AuthedRequest, slug: str) -> HttpResponse:
    idao = _idao(slug)
    if not selectors.is_member(idao=idao, user=request.user):
        raise PermissionDenied(f"Only members of {idao.name} may propose to spend its treasury.")
    form = TreasuryProposalForm(request.POST or None, initial={"kind": request.GET.get("kind", "treasury_transfer")})
    if request.method == "POST" and form.is_valid():
        try:
            proposal = proposals.proposal_create(
                idao=idao,
                author=request.user,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                payload=form.payload(),
            )
            if form.cleaned_data["discussion_url"]:
                comments.discussion_url_set(
                    proposal_id=proposal.pk, author=request.user, url=form.cleaned_data["discussion_url"]
                )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            return redirect("idaos:proposal", proposal_id=proposal.pk)
    return render(request, "idaos/treasury_proposal_form.html", {"idao": idao, "form": form})


@login_required
@require_POST
def proposal_veto(request: AuthedRequest, proposal_id: int) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the reason for the veto (3 to 2,000 characters).")
    else:
        try:
            treasury.proposal_veto(proposal_id=proposal.pk, steward=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            _refused(request, exc)
        else:
            messages.success(request, "Vetoed: the proposal will not execute.")
    return redirect("idaos:proposal", proposal_id=proposal.pk)


def _refused(request: AuthedRequest, exc: DomainError) -> None:
    """A service's refusal on a page: a 403 stays a 403, anything else is said as a message."""
    if exc.status == 403:
        raise PermissionDenied(exc.detail) from None
    messages.error(request, exc.detail)


@login_required
@require_POST
def comment_new(request: AuthedRequest, proposal_id: int) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    form = CommentForm(request.POST)
    if not selectors.is_member(idao=proposal.idao, user=request.user):
        raise PermissionDenied("Only members of the iDAO may comment on its proposals.")
    if not form.is_valid():
        messages.error(request, "A comment is 1 to 10,000 characters.")
    else:
        try:
            comments.comment_post(
                proposal_id=proposal.pk,
                author=request.user,
                body=form.cleaned_data["body"],
                parent_id=form.cleaned_data["parent"],
            )
        except DomainError as exc:
            _refused(request, exc)
    return redirect(f"/proposals/{proposal.pk}#discussion")


@login_required
@require_POST
def comment_edit(request: AuthedRequest, proposal_id: int, comment_id: int) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    try:
        comments.comment_edit(comment_id=comment_id, author=request.user, body=request.POST.get("body", ""))
    except DomainError as exc:
        _refused(request, exc)
    return redirect(f"/proposals/{proposal.pk}#comment-{comment_id}")


@login_required
@require_POST
def comment_hide(request: AuthedRequest, proposal_id: int, comment_id: int) -> HttpResponse:
    proposal = _proposal(request, proposal_id)
    try:
        comments.comment_hide(comment_id=comment_id, steward=request.user, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, "The comment is hidden; the reason is shown in its place.")
    return redirect(f"/proposals/{proposal.pk}#comment-{comment_id}")
