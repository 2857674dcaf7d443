"""Contribution pages and the streaming upload endpoint.

The upload endpoints are csrf_exempt on the outside so the hashing upload handler is installed
before anything reads the body; they enforce CSRF themselves right after (session callers)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from idaos.models import Membership, MembershipStatus
from portal.auth import token_user
from portal.errors import DomainError, error_response

from .errors import InvalidContribution
from .models import Contribution, ContributionKind
from .selectors import (
    contribution_dict,
    contribution_for_download,
    contribution_list_of_owner,
    contributions_with_findings,
)
from .services import ALLOWED_USES, contribution_create
from .uploads import HashingUploadHandler, max_upload_bytes


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})


def _bearer(request: HttpRequest) -> tuple[Any, Any] | None:
    """(user, ApiToken) of a valid bearer token, or None."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return token_user(header[7:].strip())
    return None


def _bearer_user(request: HttpRequest) -> Any:
    found = _bearer(request)
    return found[0] if found else None


def _receive(request: HttpRequest, user: Any, *, check_csrf: bool) -> tuple[Contribution | None, DomainError | None]:
    handler = HashingUploadHandler(request)
    request.upload_handlers = [handler]
    if check_csrf and _csrf_failure(request) is not None:
        handler.cleanup()
        return None, DomainError("CSRF token missing or incorrect.", code="csrf_failed", status=403)
    files, post = request.FILES, request.POST
    if handler.too_large:
        handler.cleanup()
        return None, DomainError(
            f"The file is larger than this portal accepts ({max_upload_bytes():,} bytes).",
            code="payload_too_large",
            status=413,
        )
    upload = files.get("file")
    if upload is None:
        handler.cleanup()
        return None, InvalidContribution("Attach the file in a form field named “file”.")
    for extra in handler.uploads:
        if extra is not upload:
            extra.discard()
    try:
        contribution = contribution_create(
            idao_slug=post.get("idao", ""),
            owner=user,
            upload=upload,
            kind=post.get("kind", ""),
            title=post.get("title", ""),
            description=post.get("description", ""),
            licence=post.get("licence", ""),
            usage_policy={
                "allowed_uses": post.getlist("allowed_uses") or post.get("allowed_uses_csv", ""),
                "price": post.get("price"),
                "quota": post.get("quota"),
                "expiry_days": post.get("expiry_days"),
            },
        )
    except DomainError as exc:
        return None, exc
    return contribution, None


@csrf_exempt
def upload_api(request: HttpRequest) -> HttpResponse:
    """POST /api/v1/contributions/upload (multipart: file, idao, kind, title, licence,
    allowed_uses…). Bearer token or session (with X-CSRFToken)."""
    if request.method != "POST":
        return error_response("method_not_allowed", "POST a multipart form to this endpoint.", 405)
    user = _bearer_user(request)
    via_session = user is None
    if via_session:
        user = request.user if request.user.is_authenticated else None
    if user is None:
        return error_response("not_authenticated", "Sign in with Ethereum or send a valid API token.", 401)
    contribution, error = _receive(request, user, check_csrf=via_session)
    if error is not None:
        return error_response(error.code, error.detail, error.status)
    return JsonResponse(contribution_dict(contribution), status=201)


@csrf_exempt
@login_required
def contribution_new(request: HttpRequest) -> HttpResponse:
    """The upload form (works without JavaScript; upload.js adds progress and the hash)."""
    memberships = Membership.objects.filter(user=request.user, status=MembershipStatus.ACTIVE).select_related("idao")
    context = {
        "idaos": [m.idao for m in memberships],
        "kinds": ContributionKind.choices,
        "uses": ALLOWED_USES,
        "selected": request.GET.get("idao", ""),
        "max_bytes": max_upload_bytes(),
    }
    if request.method == "POST":
        _contribution, error = _receive(request, request.user, check_csrf=True)
        if error is None:
            return redirect("contributions:contribution_mine")
        context["error"] = error.detail
        return render(request, "contributions/contribution_new.html", context, status=error.status)
    return render(request, "contributions/contribution_new.html", context)


@login_required
def contribution_mine(request: HttpRequest) -> HttpResponse:
    contributions = contributions_with_findings(contribution_list_of_owner(user=request.user))
    template = "contributions/contribution_mine.html#rows" if request.htmx else "contributions/contribution_mine.html"
    return render(request, template, {"contributions": contributions})


def contribution_file(request: HttpRequest, public_id: str) -> HttpResponse:
    """The file itself, only for its owner, a committee member of its open round, or a grant.
    A bearer API token works too: `validator`-scoped for a seat on the file's open round (the
    HTTP-only validator node), or holding a grant. No credential at all: 401; a refusal: 404."""
    if "Authorization" in request.headers:
        found = _bearer(request)
        if found is None:
            return error_response("not_authenticated", "The API token is unknown or revoked.", 401)
        user, token = found
    else:
        user, token = request.user, None
        if not user.is_authenticated:
            return error_response("not_authenticated", "Sign in with Ethereum or send an API token.", 401)
    try:
        c = contribution_for_download(public_id=public_id, user=user, token=token)
    except DomainError:
        raise Http404("No such file.") from None
    response = FileResponse(
        default_storage.open(c.storage_name, "rb"),
        as_attachment=True,
        filename=c.original_name or f"{c.public_id}.bin",
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
