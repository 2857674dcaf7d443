"""Authentication backends: sessions started by SIWE, and bearer API tokens for the JSON API."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from .models import ApiToken, User


class AddressBackend(BaseBackend):
    """Sessions only: a user is authenticated by SIWE (portal.siwe), never by a password."""

    def get_user(self, user_id: int) -> User | None:
        return User.objects.filter(pk=user_id, is_active=True).first()


def token_user(raw: str) -> tuple[User, ApiToken] | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Throttle the write: last use is informative, a minute's precision is enough.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = token_user(token)
        if found is None:
            return None
        request.user, request.api_token = found
        return found[0]


class PortalSessionAuth(SessionAuth):
    """Session auth that also enforces CSRF on unsafe methods (ninja does, via csrf=True)."""


api_auth = [BearerAuth(), PortalSessionAuth()]
