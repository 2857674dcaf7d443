"""Type-only view of a request: the attributes django-htmx's middleware and our auth classes add."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from portal.models import ApiToken, User


class PortalRequest(HttpRequest):
    """Annotate views with this (never instantiate it): `request.htmx`, `.auth`, `.api_token`."""

    htmx: HtmxDetails
    auth: Any  # what the operation's django-ninja auth returned (a User, or None without auth)
    api_token: ApiToken | None


class AuthedRequest(PortalRequest):
    """Annotate `@login_required` views with this: their `request.user` is a signed-in User."""

    user: User  # narrowed from `User | AnonymousUser` by @login_required
