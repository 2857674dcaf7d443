"""Sessions signed by a contract wallet stay valid only while the wallet still accepts the
sign-in signature: a wallet can rotate its owners (EIP-4361, security considerations).

At sign-in portal.api_auth stores how the signature was verified in the session
(`remember_sign_in`). On a later request, at most every PORTAL_CONTRACT_SESSION_RECHECK_SECONDS,
this middleware re-verifies a contract-wallet session against the wallet's live code (no cache)
and ends the session when the wallet no longer validates. When the chain cannot answer the
session is kept and the check retried RETRY_SECONDS later. EOA sessions are never re-checked."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import logout
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from . import CHAIN_UNAVAILABLE, ERC1271, ERC6492, Verification, verify

if TYPE_CHECKING:
    from ..siwe import SignIn

SESSION_KEY = "portal_wallet"
RETRY_SECONDS = 30


def remember_sign_in(request: HttpRequest, sign_in: SignIn) -> None:
    """Record in the (freshly rotated) session how its sign-in was verified; contract wallets
    also keep what is needed to re-verify it."""
    v = sign_in.verification
    record: dict = {"verified_by": v.verified_by, "chain_id": v.chain_id, "block_number": v.block_number}
    if v.verified_by in (ERC1271, ERC6492):
        record |= {
            "address": sign_in.address,
            "digest": sign_in.digest.hex(),
            "signature": sign_in.signature,
            "message": sign_in.message_text,
            "checked_at": time.time(),
        }
    request.session[SESSION_KEY] = record


def session_wallet(request: HttpRequest) -> dict | None:
    """How the current session's sign-in was verified ({"verified_by", "chain_id", …}) or None."""
    return request.session.get(SESSION_KEY)


def recheck(record: dict) -> Verification:
    return verify(
        address=record["address"],
        digest=bytes.fromhex(record["digest"]),
        signature=record["signature"],
        chain_id=record["chain_id"],
        message=record.get("message"),
        use_cache=False,
    )


class ContractWalletSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only requests carrying a session cookie can hold a wallet session: others load nothing.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            self._recheck_if_due(request)
        return self.get_response(request)

    def _recheck_if_due(self, request: HttpRequest) -> None:
        record = request.session.get(SESSION_KEY)
        if not record or record.get("verified_by") not in (ERC1271, ERC6492):
            return
        now = time.time()
        if now - record.get("checked_at", 0) < settings.PORTAL_CONTRACT_SESSION_RECHECK_SECONDS:
            return
        # Concurrent requests of one session: one of them re-checks.
        if not cache.add(f"portal:wallet-recheck:{request.session.session_key}", 1, RETRY_SECONDS):
            return
        try:
            result = recheck(record)
        finally:
            cache.delete(f"portal:wallet-recheck:{request.session.session_key}")
        if result.ok:
            record |= {"checked_at": now, "block_number": result.block_number}
        elif result.reason == CHAIN_UNAVAILABLE:
            record["checked_at"] = now - settings.PORTAL_CONTRACT_SESSION_RECHECK_SECONDS + RETRY_SECONDS
        else:
            logout(request)  # flushes the session: the request continues signed out
            return
        request.session[SESSION_KEY] = record
