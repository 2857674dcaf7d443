"""Sign-In with Ethereum (EIP-4361): nonce issuance and message verification.

The `siwe` library parses the message; its signature is checked by portal.signatures.verify on
the chain the message names (EOA, ERC-1271 or ERC-6492 contract wallets), and the relying
party's checks (domain, URI origin, chain id, times, that the nonce is ours and unused) are
made here. A chain that cannot answer is a 503 `chain_unavailable` and burns no nonce."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import keccak
from pydantic import ValidationError

if TYPE_CHECKING:
    from siwe.siwe import SiweMessage

from .errors import DomainError
from .eth import recover_digest
from .models import SiweNonce, User
from .signatures import Verification, verify

_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 24
# At most this many live nonces are kept; older ones go first. With the per-IP rate limit this
# bounds the table even under a distributed flood.
MAX_LIVE_NONCES = 50_000


class SiweRejected(DomainError):
    status = 401


def _reject(code: str, detail: str, status: int = 401) -> SiweRejected:
    return SiweRejected(detail, code=code, status=status)


def nonce_issue(*, now: datetime | None = None) -> str:
    """A fresh single-use nonce, valid for SIWE_NONCE_TTL_SECONDS."""
    now = now or timezone.now()
    value = "".join(secrets.choice(_ALPHABET) for _ in range(NONCE_LENGTH))
    SiweNonce.objects.create(
        value=value, created_at=now, expires_at=now + timedelta(seconds=settings.SIWE_NONCE_TTL_SECONDS)
    )
    return value


def nonce_purge(*, now: datetime | None = None) -> int:
    """Drop expired and used nonces, then cap the live ones; returns how many were removed."""
    now = now or timezone.now()
    removed, _ = SiweNonce.objects.filter(expires_at__lt=now).delete()
    removed += SiweNonce.objects.filter(used_at__lt=now - timedelta(minutes=1)).delete()[0]
    overflow = SiweNonce.objects.count() - MAX_LIVE_NONCES
    if overflow > 0:
        oldest = SiweNonce.objects.order_by("created_at").values_list("pk", flat=True)[:overflow]
        removed += SiweNonce.objects.filter(pk__in=list(oldest)).delete()[0]
    return removed


@dataclass(frozen=True)
class Origin:
    """Where the sign-in request arrived: scheme and host as the browser saw them."""

    scheme: str
    host: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def parse_message(text: str) -> SiweMessage:
    if not isinstance(text, str) or not text.strip():
        raise _reject("malformed_message", "The message is empty; send the EIP-4361 text that was signed.", 400)
    if len(text) > 8192:
        raise _reject("malformed_message", "The message is longer than 8 KiB.", 400)
    if _CONTROL.search(text):
        # Canonical EIP-4361 text separates lines with \n and holds no other control character:
        # a tab, NUL or escape sequence could make a wallet show something else than was signed.
        raise _reject("malformed_message", "The message holds control characters; it is not canonical EIP-4361.", 400)
    try:
        # Imported here: siwe pulls in web3 (~25 MB, 0.4 s) that only sign-in needs.
        from siwe.siwe import SiweMessage

        message = SiweMessage.from_message(text, abnf=False)
    except ValidationError as exc:
        if any(err.get("loc") == ("address",) for err in exc.errors()):
            raise _reject(
                "malformed_message",
                "The message's address must be EIP-55 checksummed (mixed case), as EIP-4361 requires.",
                400,
            ) from None
        fields = ", ".join(".".join(map(str, e.get("loc", ()))) or "message" for e in exc.errors())
        raise _reject("malformed_message", f"The message is not valid EIP-4361 ({fields}).", 400) from None
    except Exception:  # the regex parser raises plain ValueError/TypeError on bad text
        raise _reject("malformed_message", "The message is not valid EIP-4361 text.", 400) from None
    # The signature covers the exact text; a message that does not re-serialise to itself
    # (extra spaces, reordered fields) would verify against a different text than was shown.
    if message.prepare_message() != text:
        raise _reject("malformed_message", "The message is not in canonical EIP-4361 form.", 400)
    return message


def _check_relying_party(message: SiweMessage, origin: Origin) -> None:
    expected_domain = settings.SIWE_DOMAIN or origin.host
    if message.domain != expected_domain:
        raise _reject(
            "domain_mismatch", f"The message is for {message.domain!r}, but this portal is {expected_domain!r}."
        )
    uri = urlsplit(str(message.uri))
    expected_scheme = message.scheme or origin.scheme
    if f"{uri.scheme}://{uri.netloc}" != f"{expected_scheme}://{expected_domain}":
        raise _reject(
            "uri_mismatch", f"The message's URI {message.uri!s} is not on {expected_scheme}://{expected_domain}."
        )
    if message.chain_id not in settings.SIWE_CHAIN_IDS:
        allowed = ", ".join(map(str, settings.SIWE_CHAIN_IDS))
        raise _reject("chain_not_allowed", f"Chain id {message.chain_id} is not accepted here (allowed: {allowed}).")


def _check_times(message: SiweMessage, now: datetime) -> None:
    skew = timedelta(seconds=settings.SIWE_CLOCK_SKEW_SECONDS)
    if message.issued_at._datetime > now + skew:
        raise _reject("not_yet_valid", "The message's Issued At is in the future; check your clock.")
    if message.not_before is not None and message.not_before._datetime > now + skew:
        raise _reject("not_yet_valid", "The message is not valid before its Not Before time.")
    if message.expiration_time is not None and message.expiration_time._datetime <= now:
        raise _reject("expired", "The message has expired; sign in again.")


def eip191_digest(text: str) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" ‖ len ‖ text): what personal_sign signs."""
    data = text.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def _check_signature(message: SiweMessage, text: str, signature: str) -> Verification:
    """The EIP-191 digest of the exact text, verified for the message's address on the message's
    chain: EOAs by ECDSA recovery with no RPC call, contract wallets on chain."""
    verification = verify(
        address=message.address,
        digest=eip191_digest(text),
        signature=signature,
        chain_id=message.chain_id,
        message=text,
    )
    return verification.raise_for_failure(SiweRejected)


def _signed_by_eoa(message: SiweMessage, text: str, signature: str) -> bool:
    recovered = recover_digest(eip191_digest(text), signature) if isinstance(signature, str) else None
    return recovered is not None and recovered.lower() == message.address.lower()


def _nonce_refusal(value: str, now: datetime) -> SiweRejected | None:
    """Why the nonce cannot be claimed now, or None if it is live."""
    nonce = SiweNonce.objects.filter(value=value).first()
    if nonce is None:
        return _reject(
            "nonce_unknown", "This nonce was not issued by this portal (or has been purged); fetch a new one."
        )
    if nonce.used_at is not None:
        return _reject("nonce_used", "This nonce has already been used; fetch a new one.")
    if nonce.expires_at <= now:
        return _reject("expired", "This nonce has expired; fetch a new one.")
    return None


def _nonce_consume(value: str, now: datetime) -> None:
    """Claim the nonce with one conditional UPDATE: of concurrent verifies, exactly one wins."""
    claimed = SiweNonce.objects.filter(value=value, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if claimed == 1:
        return
    raise _nonce_refusal(value, now) or _reject("nonce_used", "This nonce has already been used; fetch a new one.")


@dataclass(frozen=True)
class SignIn:
    """A verified sign-in: the user and how the signature was verified (and what re-verifies it)."""

    user: User
    verification: Verification
    address: str
    digest: bytes
    signature: str
    message_text: str


def siwe_verify(*, message_text: str, signature: str, origin: Origin, now: datetime | None = None) -> User:
    """Verify a signed EIP-4361 message and return its user, created on first sign-in."""
    return siwe_authenticate(message_text=message_text, signature=signature, origin=origin, now=now).user


def siwe_authenticate(*, message_text: str, signature: str, origin: Origin, now: datetime | None = None) -> SignIn:
    """Verify a signed EIP-4361 message: its user (created on first sign-in) and how it was
    verified. Nothing is written unless every check passes; the nonce is claimed last."""
    now = now or timezone.now()
    message = parse_message(message_text)
    _check_relying_party(message, origin)
    _check_times(message, now)
    # Read-only, before a signature that needs a chain: a request with a dead nonce never makes
    # the portal ask a chain node anything. An EOA signature (recovered locally, no RPC) skips
    # this read: the claim below names the same refusal. The nonce is claimed (atomically) only
    # after every check passes.
    if not _signed_by_eoa(message, message_text, signature):
        refusal = _nonce_refusal(message.nonce, now)
        if refusal is not None:
            raise refusal
    verification = _check_signature(message, message_text, signature)
    make_staff = message.address.lower() in settings.PORTAL_ADMINS
    with transaction.atomic():
        _nonce_consume(message.nonce, now)
        user = User.objects.filter(address=message.address).first()
        if user is None:
            user = User(address=message.address, last_login=now, is_staff=make_staff, is_superuser=make_staff)
            user.set_unusable_password()
            try:
                with transaction.atomic():  # a savepoint: a concurrent first sign-in may win the insert
                    user.save(force_insert=True)
            except IntegrityError:
                user = User.objects.get(address=message.address)
        elif make_staff and not user.is_staff:
            user.is_staff = user.is_superuser = True
            user.last_login = now
            user.save(update_fields=["is_staff", "is_superuser", "last_login"])
        else:
            # last_login is informative: a plain UPDATE, no need to refresh the cached user.
            User.objects.filter(pk=user.pk).update(last_login=now)
    if not user.is_active:
        raise _reject("forbidden", "This account is disabled.", 403)
    return SignIn(user, verification, message.address, eip191_digest(message_text), signature, message_text)
