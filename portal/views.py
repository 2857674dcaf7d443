from __future__ import annotations

import sys

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.http import require_POST

from portal.http import AuthedRequest, PortalRequest

from .api_tokens import SCOPES, api_token_create, api_token_revoke, api_token_subject_choices
from .errors import DomainError, error_response
from .middleware import exception_response, is_api_path, wants_json
from .models import ApiToken


def home(request: PortalRequest) -> HttpResponse:
    """Visitors get the introduction; a signed-in person gets what needs them (portal.dashboard)."""
    if not request.user.is_authenticated:
        return render(request, "portal/home.html")
    from .dashboard import dashboard_panels

    return render(request, "portal/dashboard.html", {"panels": dashboard_panels(request.user)})


def login_page(request: PortalRequest) -> HttpResponse:
    """Where @login_required and the admin send visitors: the SIWE button, then back to `next`."""
    next_url = request.GET.get("next", "/")
    # Only a path on this site: "/\\evil.example" or "/\t/evil.example" are other sites to a browser.
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    return render(request, "portal/login.html", {"next": next_url})


@require_POST
def logout_page(request: PortalRequest) -> HttpResponse:
    """The no-JavaScript sign-out: end the session and go home."""
    logout(request)
    return redirect("home")


def csrf_failure(request: PortalRequest, reason: str = "") -> HttpResponse:
    if wants_json(request):
        return error_response(
            "csrf_failed", "CSRF token missing or incorrect: send the csrftoken cookie's value as X-CSRFToken.", 403
        )
    return TemplateResponse(
        request,
        "portal/error.html",
        {
            "title": "Request refused",
            "detail": "Your session's security token was missing or stale. Reload the page and try again.",
        },
        status=403,
    )


@login_required
def api_token_list(request: AuthedRequest) -> HttpResponse:
    """The API tokens page: the user's tokens, and the form creating one (the raw value shows once)."""
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
    context = {
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id"),
        "raw": raw,
        "created": created,
        "scopes": SCOPES,
        "subjects": api_token_subject_choices(request.user),
    }
    return render(request, "portal/api_tokens.html", context, status=status)


@login_required
@require_POST
def api_token_revoke_page(request: AuthedRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(user=request.user, token_id=token_id)
        messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("api_tokens")


def bad_request(request: PortalRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: SuspiciousOperation raised anywhere (unknown Host, too many fields, bodies
    too big to read) is JSON with its status under /api/ and /auth/; pages keep Django's page."""
    if is_api_path(request):
        return exception_response(request, exception) or error_response(
            "bad_request", "The request was refused as malformed.", 400
        )
    return defaults.bad_request(request, exception or SuspiciousOperation())


def server_error(request: PortalRequest) -> HttpResponse:
    """handler500: a request-parsing error that escaped (a malformed multipart body read by a
    middleware) keeps its 4xx; any other failure is a JSON 500 under /api/ and /auth/."""
    if is_api_path(request):
        return exception_response(request, sys.exc_info()[1]) or error_response(
            "server_error", "Something went wrong on our side; it was logged.", 500
        )
    return defaults.server_error(request)


@login_required
@require_POST
def display_name_edit(request: AuthedRequest, address: str) -> HttpResponse:
    """Set the signed-in person's display name from their profile page (portal.people rules)."""
    from .people import display_name_set

    if address.lower() != request.user.address.lower():
        raise PermissionDenied("You can only change your own display name.")
    try:
        display_name_set(user=request.user, display_name=request.POST.get("display_name", ""))
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, "Your display name is saved.")
    return redirect("person", address=request.user.address)


def person(request: PortalRequest, address: str) -> HttpResponse:
    """A person's profile: their address, then the panels other apps register (portal.profiles)."""
    from .models import User
    from .profiles import profile_panels

    found = User.objects.filter(address__iexact=address).first()
    if found is None:
        raise Http404("Nobody with this address has signed in here.")
    if found.address != address:
        return redirect("person", address=found.address)
    return render(
        request,
        "portal/profile.html",
        {"person": found, "panels": profile_panels(found, request.user), "is_self": request.user == found},
    )
