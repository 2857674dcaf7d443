from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .errors import error_response
from .middleware import wants_json


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


def login_page(request: HttpRequest) -> HttpResponse:
    """Where @login_required and the admin send visitors: the SIWE button, then back to `next`."""
    next_url = request.GET.get("next", "/")
    # Only a path on this site: "/\\evil.example" or "/\t/evil.example" are other sites to a browser.
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    return render(request, "portal/login.html", {"next": next_url})


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    """The no-JavaScript sign-out: end the session and go home."""
    logout(request)
    return redirect("home")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
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
