"""The session engine with Redis (settings.SESSION_ENGINE): Django's cached_db sessions, whose
load also fetches the signed-in user's cached row in the same Redis round trip.

A signed-in request otherwise makes two sequential cache reads: the session, then the user it
names (portal.auth.AddressBackend). Saving a session also stores its user id under a pointer key
beside it; loading runs one script that reads the session, the pointer and the user's cache entry
(portal.cache.PortalRedisCache.get_with_referenced). The user found is what
AddressBackend.get_user would read from the cache at that instant, and it is used only for the
id the session names: Django's session-hash check, `is_active`, logout (which deletes the session
and its pointer) and the invalidation of the user's cache entry on every save all stay as they
were. A missing pointer or user entry falls back to the ordinary lookup."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.backends import cached_db
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

USER_KEY_PREFIX = "portal:user:"  # where portal.auth caches user rows
POINTER_SUFFIX = ":uid"


class SessionStore(cached_db.SessionStore):
    # Attributes of Django's stores that django-stubs does not declare.
    _cache: Any
    _session: dict
    # (the user id the pointer named, that user's cached row) when the load found both.
    prefetched_user: tuple[str, Any] | None = None

    def load(self) -> dict:
        fetch = getattr(self._cache, "get_with_referenced", None)
        if fetch is None or self.session_key is None:
            return super().load()
        cache_key = self.cache_key
        try:
            data, pointer, user = fetch(cache_key, cache_key + POINTER_SUFFIX, USER_KEY_PREFIX)
        except Exception:
            return super().load()  # as cached_db does for a key the cache refuses
        if data is None:
            data = super().load()  # from the database, and cached again
            pointer = None
        user_id = data.get(SESSION_KEY)
        if user_id is None:
            return data
        if user is not None:
            # Labelled with the id it was fetched for; prefetched_user() hands it out only for
            # the id the session names.
            self.prefetched_user = (str(pointer), user)
        if str(pointer) != str(user_id) and str(user_id).isdigit():
            # A session cached without its pointer (by Django's cached_db engine, or reloaded from
            # the database), or with a wrong one: (re)write it, so its next requests take the one
            # round trip.
            age = self.get_expiry_age(expiry=data.get("_session_expiry"))
            self._cache.set(cache_key + POINTER_SUFFIX, int(user_id), age)
        return data

    def save(self, must_create: bool = False) -> None:
        super().save(must_create)
        pointer = self.cache_key + POINTER_SUFFIX
        user_id = self._session.get(SESSION_KEY)
        if user_id is not None and str(user_id).isdigit():
            self._cache.set(pointer, int(user_id), self.get_expiry_age())
        else:
            self._cache.delete(pointer)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        super().delete(session_key)
        if key is not None:
            self._cache.delete(self.cache_key_prefix + key + POINTER_SUFFIX)


# The session whose load may have prefetched the user, while django.contrib.auth.get_user runs.
_loading_session: ContextVar[Any] = ContextVar("portal_loading_session", default=None)


def prefetched_user(user_id: object) -> Any:
    """The user row the current session load fetched for `user_id`, or None."""
    session = _loading_session.get()
    found = getattr(session, "prefetched_user", None)
    if found is None or found[0] != str(user_id) or str(found[1].pk) != str(user_id):
        return None
    return found[1]


def _get_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        token = _loading_session.set(request.session)
        try:
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
        finally:
            _loading_session.reset(token)
    user = request._cached_user  # type: ignore[attr-defined]
    # Once resolved, request.user is the user itself: every later `request.user.<attr>` (a dozen
    # per API call: middleware, auth, views) skips the lazy proxy, whose lookups each raise and
    # catch an AttributeError. A reference to the lazy object taken before still works.
    request.user = user
    return user


class PortalAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, letting AddressBackend.get_user take the user row the
    session load already fetched (Django's get_user, with its session-hash check, still runs).
    The user stays lazy until first read, then replaces the lazy object on the request."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))  # type: ignore[assignment]
