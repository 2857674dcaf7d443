"""Authentication backends: sessions started by SIWE, and bearer API tokens for the JSON API."""

from __future__ import annotations

import logging
from typing import cast

from django.conf import settings
from django.contrib.auth.backends import BaseBackend
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseForbidden, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from .errors import InsufficientScope
from .http import PortalRequest
from .models import ApiToken, User
from .scopes import SCOPES
from .sessions import USER_KEY_PREFIX, prefetched_user

USER_CACHE_SECONDS = 300
logger = logging.getLogger("django")  # as django-ninja's HttpBearer logs


def _user_cache_key(user_id: object) -> str:
    return f"{USER_KEY_PREFIX}{user_id}"


class AddressBackend(BaseBackend):
    """Sessions only: a user is authenticated by SIWE (portal.siwe), never by a password.

    Every authenticated request loads its user; the row is cached (Redis in production) and
    dropped whenever the user is saved or deleted, so a signed-in request costs no query here."""

    def get_user(self, user_id: int) -> User | None:
        # The session load may have fetched the cached row already (portal.sessions).
        user = prefetched_user(user_id)
        if user is None:
            user = cache.get(_user_cache_key(user_id))
        if user is None:
            user = User.objects.filter(pk=user_id).first()
            if user is None:
                return None
            cache.set(_user_cache_key(user_id), user, USER_CACHE_SECONDS)
        return user if user.is_active else None

    # Staff rights are one rule: an active staff member holds every permission (the Django admin
    # included); the portal grants no per-model permissions. grant_admin / PORTAL_ADMINS set it.
    def has_perm(self, user_obj: object, perm: str, obj: object = None) -> bool:
        return bool(getattr(user_obj, "is_active", False) and getattr(user_obj, "is_staff", False))

    def has_module_perms(self, user_obj: object, app_label: str) -> bool:
        return self.has_perm(user_obj, app_label)


@receiver([post_save, post_delete], sender=User, dispatch_uid="portal.user_cache_invalidate")
def _forget_cached_user(sender: type, instance: User, **kwargs: object) -> None:
    cache.delete(_user_cache_key(instance.pk))


TOKEN_CACHE_SECONDS = 300


def _token_cache_key(key_hash: str) -> str:
    return f"portal:token:{key_hash}"


def forget_token(key_hash: str) -> None:
    """Drop a token from the cache; call it after revoking with a queryset update."""
    cache.delete(_token_cache_key(key_hash))


@receiver([post_save, post_delete], sender=ApiToken, dispatch_uid="portal.token_cache_invalidate")
def _forget_cached_token(sender: type, instance: ApiToken, **kwargs: object) -> None:
    forget_token(instance.key_hash)


def token_user(raw: str) -> tuple[User, ApiToken] | None:
    """The user and token a bearer value stands for, or None (unknown, revoked, user disabled).
    Tokens are cached like users; revocation drops the cached entry."""
    key_hash = ApiToken.hash(raw)
    key = _token_cache_key(key_hash)
    token = cache.get(key)
    if token is None:
        token = ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
        if token is None:
            return None
        cache.set(key, token, TOKEN_CACHE_SECONDS)
    user = AddressBackend().get_user(token.user_id)
    if user is None:
        return None
    # Last use is informative: one write per token per minute is enough.
    if cache.add(f"portal:token-used:{token.pk}", 1, 60):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return user, token


class BearerAuth(HttpBearer):
    """`Authorization: Bearer <token>`. With a scope, a valid token that lacks it is refused
    with 403 `insufficient_scope` naming the scope (instead of falling through to a 401)."""

    def __init__(self, scope: str | None = None) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> User | None:
        # django-ninja's HttpBearer, reading the one header from META: `request.headers` would
        # build a map of every header first, on every authenticated API call (sessions included).
        value = request.META.get("HTTP_AUTHORIZATION")
        if not value:
            return None
        scheme, _, token = value.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            if settings.DEBUG:
                logger.error(f"Unexpected auth - '{value}'")
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = token_user(token)
        if found is None:
            return None
        user, api_token = found
        if self.scope is not None and self.scope not in (api_token.scopes or []):
            raise InsufficientScope(
                f"This API token lacks the {self.scope} scope this operation needs; "
                f"create a token with {self.scope} on /tokens/.",
            )
        request.user, cast(PortalRequest, request).api_token = user, api_token
        return user


# One CSRF checker for every session-authenticated call: django-ninja's check_csrf builds a new
# CsrfViewMiddleware per request. It keeps no state of its own (all of it is on the request).
_CSRF = CsrfViewMiddleware(lambda request: HttpResponseForbidden())


# What Django parses a POST body other than a form to (HttpRequest._load_post_and_files): nothing.
_NO_FORM = QueryDict()
_FORM = ("multipart/form-data", "application/x-www-form-urlencoded")


def _no_view(request: HttpRequest) -> HttpResponseForbidden:  # the view checked for: not exempt
    raise AssertionError("never called: only its (absent) csrf_exempt mark is read")


class PortalSessionAuth(SessionAuth):
    """Session auth: authentication first, then CSRF on unsafe methods. An anonymous caller is
    told 401 `not_authenticated` (not 403 `csrf_failed`); a signed-in caller without the
    X-CSRFToken header gets 403 `csrf_failed`. Sessions are never scope-limited."""

    def __call__(self, request: HttpRequest) -> User | None:
        if not request.user.is_authenticated:
            return None
        # django-ninja's APIKeyCookie._get_key and check_csrf, with the shared checker.
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False):
            request.csrf_processing_done = False  # type: ignore[attr-defined]
            # CsrfViewMiddleware's process_request has usually run already (it sets CSRF_COOKIE
            # whenever the request has a cookie, rotating a malformed one); repeating it would
            # read the same cookie to the same secret, or rotate it a second time.
            if "CSRF_COOKIE" not in request.META:
                _CSRF.process_request(request)
            # The checker reads a form field (request.POST) before the X-CSRFToken header. A JSON
            # body has no form: Django would build an empty QueryDict for it (a parse of ""). It
            # reads a shared empty one instead, taken away again after the check, so the rest of
            # the request gets request.POST exactly as before.
            lend = request.method == "POST" and request.content_type not in _FORM and "_post" not in request.__dict__
            if lend:
                request._post = _NO_FORM  # type: ignore[attr-defined]
            try:
                refused = _CSRF.process_view(request, _no_view, (), {})
            finally:
                if lend:
                    del request._post  # type: ignore[attr-defined]
            if refused is not None:
                raise HttpError(403, "CSRF check Failed")
        return self.authenticate(request, request.COOKIES.get(self.param_name))


def api_auth(*, scope: str | None = None) -> list:
    """The auth of an operation a signed-in person or an API token may call. `scope` names the
    token scope it needs (portal.api_tokens.SCOPES); None for reading your own account. The
    scope shows in OpenAPI as the BearerAuth security requirement and `x-required-scope`."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown API token scope {scope!r}; add it to portal.api_tokens.SCOPES")
    return [BearerAuth(scope=scope), PortalSessionAuth()]
