"""API tokens for pipelines: a signed-in user creates tokens for themselves or, as a steward, for
their iDAO (`subject="idao:<slug>"`, paying from its treasury). The raw value is shown once;
only its SHA-256 is stored. Scoped; the list shows the last use; revoking is immediate."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from idaos.models import IDAO, MembershipStatus, Role
from idaos.selectors import is_steward
from portal.auth import forget_token
from portal.errors import DomainError, Forbidden, NotFound
from portal.models import ApiToken, User

SCOPES = {
    "dats:access": "Request access grants to DATs and download the granted files",
    "usage:report": "Report usage of models and agents (rewards)",
}
MAX_ACTIVE_TOKENS = 50


class InvalidToken(DomainError):
    code = "invalid_token_request"
    status = 422


def stewarded_idaos(user: User) -> list[IDAO]:
    return list(
        IDAO.objects.filter(
            memberships__user=user, memberships__status=MembershipStatus.ACTIVE, memberships__role=Role.STEWARD
        )
        .order_by("name")
        .distinct()
    )


def api_token_create(*, user: User, name: str, subject: str, scopes: list[str]) -> tuple[str, ApiToken]:
    """Create a token; returns (raw value, token). The raw value is never stored."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise InvalidToken("Name the token (1-80 characters), e.g. the pipeline that will use it.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidToken(f"Choose one or more scopes among {', '.join(SCOPES)}.")
    subject = (subject or "").strip()
    if subject:
        idao = IDAO.objects.filter(slug=subject.removeprefix("idao:")).first() if subject.startswith("idao:") else None
        if idao is None:
            raise InvalidToken("A token acts for you or for an iDAO you steward (idao:<slug>).")
        if not is_steward(idao=idao, user=user):
            raise Forbidden(f"Only stewards of {idao.name} may create tokens for its pipelines.", code="not_a_steward")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialise the count below per user
        if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
            raise InvalidToken(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
        raw, prefix, digest = ApiToken.generate()
        token = ApiToken.objects.create(
            user=user, name=name, subject=subject, scopes=sorted(set(scopes)), prefix=prefix, key_hash=digest
        )
    return raw, token


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("You have no such token.", code="token_not_found")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_token(token.key_hash)
    token.refresh_from_db()
    return token


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    raw, created, status = None, None, 200
    if request.method == "POST":
        try:
            raw, created = api_token_create(
                user=request.user,
                name=request.POST.get("name", ""),
                subject=request.POST.get("subject", ""),
                scopes=request.POST.getlist("scopes"),
            )
            status = 201
        except DomainError as exc:
            messages.error(request, exc.detail)
            status = exc.status
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")
    steward_of = stewarded_idaos(request.user)
    context = {"tokens": tokens, "raw": raw, "created": created, "scopes": SCOPES, "steward_of": steward_of}
    return render(request, "dats/tokens/list.html", context, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(user=request.user, token_id=token_id)
        messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("dats:api_tokens")
