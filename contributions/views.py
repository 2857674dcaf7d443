"""Contribution pages and the streaming upload endpoint.

The upload endpoints are csrf_exempt on the outside so the hashing upload handler is installed
before anything reads the body; they enforce CSRF themselves right after (session callers)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from idaos.models import Membership, MembershipStatus
from portal.api import api as portal_api
from portal.auth import api_auth, token_user
from portal.errors import DomainError, error_response
from portal.http import AuthedRequest, PortalRequest
from portal.parsing import ensure_querydict_text

from .errors import InvalidContribution
from .models import Contribution, ContributionKind
from .openapi import UPLOAD_SCOPE
from .schemas import ContributionOut
from .selectors import (
    contribution_dict,
    contribution_for_download,
    contribution_list_of_owner,
    contributions_with_findings,
)
from .services import ALLOWED_USES, contribution_create
from .uploads import MIN_USEFUL_BYTES, HashedUpload, HashingUploadHandler, max_upload_bytes

# The upload form's licence choices (SPDX identifiers); "Other" opens a free-text field.
COMMON_LICENCES = [
    ("CC-BY-4.0", "CC BY 4.0 (attribution)"),
    ("CC-BY-SA-4.0", "CC BY-SA 4.0 (attribution, share alike)"),
    ("CC-BY-NC-4.0", "CC BY-NC 4.0 (attribution, non-commercial)"),
    ("CC0-1.0", "CC0 1.0 (public domain)"),
    ("ODbL-1.0", "ODbL 1.0 (open database)"),
    ("CDLA-Permissive-2.0", "CDLA Permissive 2.0"),
    ("MIT", "MIT"),
    ("Apache-2.0", "Apache 2.0"),
    ("proprietary", "Proprietary (all rights reserved)"),
]
CSRF_DETAIL = "CSRF token missing or incorrect: send the csrftoken cookie's value as X-CSRFToken."


def _csrf_failure(request: PortalRequest) -> HttpResponse | None:
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})  # type: ignore[arg-type]  # Django only reads getattr(callback, "csrf_exempt"); None is fine


def _bearer(request: PortalRequest) -> tuple[Any, Any] | None:
    """(user, ApiToken) of a valid bearer token, or None."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return token_user(header[7:].strip())
    return None


def _api_caller(request: PortalRequest) -> tuple[Any, bool]:
    """(user, via session) by the API's own auth and in its order: a bearer token (lacking the
    upload scope: 403 insufficient_scope), else the session; nobody: 401 not_authenticated, before
    any CSRF check (which _receive makes for sessions once the upload handler is installed)."""
    bearer, _session = api_auth(scope=UPLOAD_SCOPE)
    user = bearer(request)
    if user is not None:
        return user, False
    if request.user.is_authenticated:
        return request.user, True
    raise DomainError("Sign in with Ethereum or send a valid API token.", code="not_authenticated", status=401)


def _receive(request: PortalRequest, user: Any, *, check_csrf: bool) -> tuple[Contribution | None, DomainError | None]:
    handler = HashingUploadHandler(request)
    request.upload_handlers = [handler]
    try:
        return _receive_with(handler, request, user, check_csrf=check_csrf)
    finally:
        # Every exit path, including the parser raising (too many parts, a malformed part, a
        # body too big): nothing staged outlives the request. A stored upload was moved away.
        handler.cleanup()


def _receive_with(
    handler: HashingUploadHandler, request: PortalRequest, user: Any, *, check_csrf: bool
) -> tuple[Contribution | None, DomainError | None]:
    if check_csrf and _csrf_failure(request) is not None:
        handler.cleanup()
        return None, DomainError(CSRF_DETAIL, code="csrf_failed", status=403)
    files, post = request.FILES, request.POST
    if handler.too_large:
        handler.cleanup()
        return None, DomainError(
            f"The file is larger than this portal accepts ({max_upload_bytes():,} bytes).",
            code="payload_too_large",
            status=413,
        )
    try:
        ensure_querydict_text(post)
        ensure_querydict_text(files)
    except DomainError as exc:
        handler.cleanup()
        return None, exc
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
            upload=cast(HashedUpload, upload),  # every file part went through HashingUploadHandler
            kind=post.get("kind", ""),
            title=post.get("title", ""),
            description=post.get("description", ""),
            licence=post.get("licence_other", "") if post.get("licence") == "other" else post.get("licence", ""),
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
def upload_api(request: PortalRequest) -> HttpResponse:
    """POST /api/v1/contributions/upload (multipart: file, idao, kind, title, licence,
    allowed_uses…), described in OpenAPI by contributions.openapi. The API's auth (a bearer token
    with contributions:write, or the session with X-CSRFToken), text check and error rendering
    (portal.api's handlers); the answer is a ContributionOut, as GET /api/v1/contributions lists."""
    if request.method != "POST":
        return error_response("method_not_allowed", "POST a multipart form to this endpoint.", 405)
    try:
        user, via_session = _api_caller(request)
    except DomainError as exc:
        return portal_api.on_exception(request, exc)
    contribution, error = _receive(request, user, check_csrf=via_session)
    if error is not None:
        return portal_api.on_exception(request, error)
    # _receive returns a contribution or an error, never neither
    return JsonResponse(
        ContributionOut.model_validate(contribution_dict(cast(Contribution, contribution))).model_dump(), status=201
    )


@csrf_exempt
@login_required
def contribution_new(request: AuthedRequest) -> HttpResponse:
    """The upload form (works without JavaScript; upload.js adds progress and the hash)."""
    memberships = Membership.objects.filter(user=request.user, status=MembershipStatus.ACTIVE).select_related("idao")
    context = {
        "idaos": [m.idao for m in memberships],
        "kinds": ContributionKind.choices,
        "uses": ALLOWED_USES,
        "selected": request.GET.get("idao", ""),
        "max_bytes": max_upload_bytes(),
        "min_bytes": MIN_USEFUL_BYTES,
        "licences": COMMON_LICENCES,
    }
    if request.method == "POST":
        _contribution, error = _receive(request, request.user, check_csrf=True)
        if error is None:
            return redirect("contributions:contribution_mine")
        context["error"] = error.detail
        return render(request, "contributions/contribution_new.html", context, status=error.status)
    return render(request, "contributions/contribution_new.html", context)


@login_required
def contribution_mine(request: AuthedRequest) -> HttpResponse:
    contributions = contributions_with_findings(contribution_list_of_owner(user=request.user))
    template = "contributions/contribution_mine.html#rows" if request.htmx else "contributions/contribution_mine.html"
    return render(request, template, {"contributions": contributions})


def contribution_file(request: PortalRequest, public_id: str) -> HttpResponseBase:
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
