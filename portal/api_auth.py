"""SIWE endpoints in the shape standard wallet adapters (RainbowKit/wagmi) expect."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login, logout
from django.core.cache import cache
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django_ratelimit.core import is_ratelimited
from ninja import Schema
from ninja.utils import check_csrf

from .auth import api_auth
from .errors import Forbidden, RateLimited
from .http import PortalRequest
from .people import display_name_set
from .routers import PortalRouter
from .signatures.session import remember_sign_in
from .siwe import Origin, nonce_issue, nonce_purge, siwe_authenticate

router = PortalRouter(tags=["auth"])
PURGE_EVERY = 30
SIWE_ERRORS = (
    "malformed_message",
    "csrf_failed",
    "forbidden",
    ("bad_signature", 401),
    "expired",
    "nonce_used",
    "nonce_unknown",
    "not_yet_valid",
    "chain_not_allowed",
    "domain_mismatch",
    "uri_mismatch",
    "contract_wallet_unverifiable",
    "chain_unavailable",
)


class NonceOut(Schema):
    nonce: str


class VerifyIn(Schema):
    message: str
    signature: str


class MeOut(Schema):
    address: str
    is_staff: bool
    display_name: str = ""


class VerifyOut(MeOut):
    verified_by: str  # eoa, erc1271 or erc6492: how the signature was verified
    chain_id: int


class LoggedOut(Schema):
    ok: bool


def _require_csrf(request: HttpRequest) -> None:
    if check_csrf(request) is not None:
        raise Forbidden(
            "CSRF token missing or incorrect: send the csrftoken cookie's value as X-CSRFToken.", code="csrf_failed"
        )


@router.get("/siwe/nonce", response=NonceOut, errors=("rate_limited",), auth=None)
def siwe_nonce(request: HttpRequest) -> dict:
    """A fresh single-use nonce (valid 10 minutes). Also sets the CSRF cookie."""
    if is_ratelimited(request, group="siwe-nonce", key="ip", rate=settings.SIWE_NONCE_RATE, increment=True):
        raise RateLimited("Too many nonce requests from this address; wait a minute and retry.")
    # The purge scans the nonce table: once per PURGE_EVERY seconds is enough to keep it bounded.
    if cache.add("portal:siwe-nonce-purge", 1, PURGE_EVERY):
        nonce_purge()
    get_token(request)
    return {"nonce": nonce_issue()}


@router.post("/siwe/verify", response=VerifyOut, errors=SIWE_ERRORS, auth=None)
def siwe_verify_view(request: HttpRequest, payload: VerifyIn) -> dict:
    """Verify a signed EIP-4361 message and start a session for its address."""
    _require_csrf(request)
    origin = Origin(scheme=request.scheme or "http", host=request.get_host())
    sign_in = siwe_authenticate(message_text=payload.message, signature=payload.signature, origin=origin)
    user = sign_in.user
    # login() rotates the session key: a session id planted before sign-in is worthless after.
    login(request, user, backend="portal.auth.AddressBackend")
    remember_sign_in(request, sign_in)
    return {
        "address": user.address,
        "is_staff": user.is_staff,
        "display_name": user.display_name,
        "verified_by": sign_in.verification.verified_by,
        "chain_id": sign_in.verification.chain_id,
    }


@router.get("/me", response=MeOut, auth=api_auth())
def me(request: PortalRequest) -> dict:
    """The signed-in address (session or bearer token), or 401."""
    user = request.auth
    return {"address": user.address, "is_staff": user.is_staff, "display_name": user.display_name}


class DisplayNameIn(Schema):
    display_name: str


@router.post("/me", response=MeOut, errors=("invalid_input", "invalid_text"), auth=api_auth())
def me_update(request: PortalRequest, payload: DisplayNameIn) -> dict:
    """Set (or clear, with "") your display name: at most 80 characters, not address-like."""
    user = display_name_set(user=request.auth, display_name=payload.display_name)
    return {"address": user.address, "is_staff": user.is_staff, "display_name": user.display_name}


@router.post("/logout", response=LoggedOut, errors=("csrf_failed",), auth=None)
def logout_view(request: HttpRequest) -> dict:
    """End the session server-side."""
    _require_csrf(request)
    logout(request)
    return {"ok": True}
