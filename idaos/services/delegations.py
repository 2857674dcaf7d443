"""Signed, gasless delegations and their signed revocations (docs/governance.md "Delegation").

A Delegation message names its delegator, scope, shares, expiry and nonce; it is verified by
portal.signatures.verify (EOAs and contract wallets) in the ballots' EIP-712 domain. The nonce is
the delegator's next one (shared by delegations and revocations), claimed by a conditional UPDATE
so that a message is accepted at most once; a newer delegation for the same scope ends the
previous one. The signed message is kept as the receipt."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from portal import signatures
from portal.errors import InvalidText
from portal.models import User
from portal.parsing import has_bad_text

from .. import eip712
from ..errors import DelegationExpired, DelegationReplayed, Forbidden, InvalidDelegation, NotFound, WrongNonce
from ..models import IDAO, DelegateStatement, Delegation, DelegationNonce, DelegationShare, Domain

ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
SIGNATURE_RE = re.compile(r"^0x(?:[0-9a-fA-F]{2}){1,16384}$")
MAX_DELEGATES = 10
FULL_BPS = 10000
UINT64 = 2**64
GLOBAL = "global"
STATEMENT_MAX = 5000


@dataclass(frozen=True)
class Verified:
    message: dict[str, Any]
    signature: str
    digest: str
    verified_by: str


def _malformed(detail: str) -> InvalidDelegation:
    return InvalidDelegation(detail, code="malformed_delegation")


def _uint(value: Any, name: str, bound: int = UINT64) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
        raise _malformed(f"message.{name} is an unsigned integer below {bound}.")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not ADDRESS_RE.match(value):
        raise _malformed(f"{name} is an Ethereum address.")
    try:
        checksummed = to_checksum_address(value)
    except ValueError:
        raise _malformed(f"{name} is an Ethereum address.") from None
    if value[2:] != value[2:].lower() and value[2:] != value[2:].upper() and value != checksummed:
        raise _malformed(f"{name} has a wrong EIP-55 checksum.")
    return checksummed


def _fields(message: Any, expected: tuple[str, ...], kind: str) -> None:
    if not isinstance(message, dict):
        raise _malformed(f"message is the EIP-712 {kind} object.")
    missing = [f for f in expected if f not in message]
    extra = sorted(set(message) - set(expected))
    if missing:
        raise _malformed(f"The {kind} is missing: {', '.join(missing)}.")
    if extra:
        raise _malformed(f"The {kind} has fields its type does not: {', '.join(extra)}.")


def clean_scope(scope: Any) -> str:
    """`global`, `domain:<one of the domains>` or `idao:<an existing slug>`."""
    if not isinstance(scope, str):
        raise _malformed("message.scope is a string.")
    if scope == GLOBAL:
        return scope
    kind, _, value = scope.partition(":")
    if kind == "domain" and value in Domain.values:
        return scope
    if kind == "idao" and value and IDAO.objects.filter(slug=value).exists():
        return scope
    raise InvalidDelegation(
        f"Unknown scope {scope[:100]!r}: use global, domain:<{'|'.join(Domain.values)}> or idao:<slug>."
    )


def clean_delegation(message: Any) -> dict[str, Any]:
    """The canonical Delegation message (EIP-55 addresses, integers), or InvalidDelegation."""
    _fields(message, eip712.DELEGATION_FIELDS, "Delegation")
    delegator = _address(message["delegator"], "message.delegator")
    shares = message["shares"]
    if not isinstance(shares, list) or not 1 <= len(shares) <= MAX_DELEGATES:
        raise _malformed(f"message.shares is a list of 1 to {MAX_DELEGATES} {{delegate, bps}} objects.")
    clean_shares = []
    for i, share in enumerate(shares):
        _fields(share, eip712.SHARE_FIELDS, "Share")
        delegate = _address(share["delegate"], f"message.shares[{i}].delegate")
        bps = _uint(share["bps"], f"shares[{i}].bps", 2**16)
        if not 1 <= bps <= FULL_BPS:
            raise InvalidDelegation(f"message.shares[{i}].bps is between 1 and {FULL_BPS}.")
        clean_shares.append({"delegate": delegate, "bps": bps})
    delegates = [s["delegate"] for s in clean_shares]
    if delegator in delegates:
        raise InvalidDelegation("A member cannot delegate to themselves.")
    if len(set(delegates)) != len(delegates):
        raise InvalidDelegation("Each delegate appears once in message.shares.")
    if sum(int(s["bps"]) for s in clean_shares) > FULL_BPS:  # type: ignore[call-overload]  # each bps was cleaned to an int above
        raise InvalidDelegation(f"The shares sum to more than {FULL_BPS} basis points.")
    return {
        "delegator": delegator,
        "scope": clean_scope(message["scope"]),
        "shares": clean_shares,
        "expiry": _uint(message["expiry"], "expiry"),
        "nonce": _uint(message["nonce"], "nonce", 2**63),
    }


def clean_revocation(message: Any) -> dict[str, Any]:
    _fields(message, eip712.REVOCATION_FIELDS, "Revocation")
    return {
        "delegator": _address(message["delegator"], "message.delegator"),
        "scope": clean_scope(message["scope"]),
        "nonce": _uint(message["nonce"], "nonce", 2**63),
    }


def _check_domain(domain: Any) -> None:
    if domain is None:
        return
    expected = eip712.domain()
    if not isinstance(domain, dict) or domain != expected:
        raise InvalidDelegation(
            f"The EIP-712 domain must be exactly {expected} (see /governance/eip712.json).", code="wrong_domain"
        )


def _verify(full: dict[str, Any], signer: str, signature: Any) -> Verified:
    if not isinstance(signature, str) or not SIGNATURE_RE.match(signature):
        raise InvalidDelegation("signature is 0x followed by hex digits.", code="bad_signature")
    digest = eip712.typed_digest(full)
    checked = signatures.verify(address=signer, digest=digest, signature=signature, chain_id=settings.PORTAL_CHAIN_ID)
    if not checked.ok:
        if checked.reason == signatures.BAD_SIGNATURE:
            raise InvalidDelegation(
                "The signature does not match the delegator in the message (wrong key, domain or types).",
                code="bad_signature",
            )
        checked.raise_for_failure(InvalidDelegation)
    return Verified(full["message"], signature.lower(), "0x" + digest.hex(), checked.verified_by or signatures.EOA)


def _claim_nonce(delegator: str, nonce: int) -> None:
    """Advance the delegator's nonce from `nonce`, or refuse: the one place a message is claimed."""
    DelegationNonce.objects.get_or_create(delegator=delegator)
    claimed = DelegationNonce.objects.filter(delegator=delegator, next=nonce).update(next=nonce + 1)
    if not claimed:
        expected = DelegationNonce.objects.get(delegator=delegator).next
        raise WrongNonce(f"The next delegation nonce of {delegator} is {expected}, not {nonce}.")


def _check_user(user: User | None, delegator: str) -> None:
    if user is not None and user.address.lower() != delegator.lower():
        raise Forbidden("You can only submit your own delegation messages.", code="not_your_delegation")


def delegation_nonce(*, delegator: str) -> int:
    row = DelegationNonce.objects.filter(delegator=_address(delegator, "address")).first()
    return row.next if row else 0


def delegation_create(
    *,
    message: Any,
    signature: Any,
    domain: Any = None,
    user: User | None = None,
    now: datetime | None = None,
) -> Delegation:
    """Record a signed Delegation; a live delegation of the same delegator and scope ends."""
    now = now or timezone.now()
    clean = clean_delegation(message)
    _check_domain(domain)
    _check_user(user, clean["delegator"])
    expires_at = datetime.fromtimestamp(clean["expiry"], tz=UTC)
    if expires_at <= now:
        raise DelegationExpired(f"The delegation expired at {expires_at.isoformat()}.")
    longest = now + timedelta(days=settings.IDAOS_DELEGATION_MAX_DAYS)
    if expires_at > longest:
        raise InvalidDelegation(
            f"A delegation lasts at most {settings.IDAOS_DELEGATION_MAX_DAYS} days (until {longest.isoformat()})."
        )
    verified = _verify(eip712.delegation_typed_data(clean), clean["delegator"], signature)
    if Delegation.objects.filter(digest=verified.digest).exists():
        raise DelegationReplayed("This signed delegation was already recorded.")
    try:
        with transaction.atomic():
            _claim_nonce(clean["delegator"], clean["nonce"])
            Delegation.objects.filter(delegator=clean["delegator"], scope=clean["scope"], ended_at=None).update(
                ended_at=now
            )
            delegation = Delegation.objects.create(
                delegator=clean["delegator"],
                scope=clean["scope"],
                expires_at=expires_at,
                nonce=clean["nonce"],
                message=clean,
                signature=verified.signature,
                digest=verified.digest,
                verified_by=verified.verified_by,
                created_at=now,
            )
            DelegationShare.objects.bulk_create(
                DelegationShare(delegation=delegation, delegate=s["delegate"], bps=s["bps"]) for s in clean["shares"]
            )
    except IntegrityError:
        raise DelegationReplayed("This signed delegation was already recorded.") from None
    return delegation


def delegation_revoke(
    *,
    message: Any,
    signature: Any,
    domain: Any = None,
    user: User | None = None,
    now: datetime | None = None,
) -> Delegation:
    """Record a signed Revocation: the delegator's live delegation in the scope ends."""
    now = now or timezone.now()
    clean = clean_revocation(message)
    _check_domain(domain)
    _check_user(user, clean["delegator"])
    verified = _verify(eip712.revocation_typed_data(clean), clean["delegator"], signature)
    if Delegation.objects.filter(revocation_digest=verified.digest).exists():
        raise DelegationReplayed("This signed revocation was already recorded.")
    try:
        with transaction.atomic():
            live = (
                Delegation.objects.select_for_update()
                .filter(delegator=clean["delegator"], scope=clean["scope"], ended_at=None)
                .first()
            )
            if live is None:
                raise NotFound(
                    f"{clean['delegator']} has no live delegation in {clean['scope']}.", code="delegation_not_found"
                )
            _claim_nonce(clean["delegator"], clean["nonce"])
            live.ended_at = now
            live.revocation_message = clean
            live.revocation_signature = verified.signature
            live.revocation_digest = verified.digest
            live.save(update_fields=["ended_at", "revocation_message", "revocation_signature", "revocation_digest"])
    except IntegrityError:
        raise DelegationReplayed("This signed revocation was already recorded.") from None
    return live


def delegate_statement_set(*, user: User, text: str, now: datetime | None = None) -> DelegateStatement:
    """Publish (or replace) the statement shown on the delegate's profile and in directories."""
    if not isinstance(text, str) or len(text) > STATEMENT_MAX:
        raise InvalidDelegation("The statement is text of at most 5,000 characters.", code="invalid_input")
    if has_bad_text(text):
        raise InvalidText("The statement holds a NUL byte or a lone surrogate.")
    statement, _ = DelegateStatement.objects.update_or_create(
        user=user, defaults={"text": text.strip(), "updated_at": now or timezone.now()}
    )
    return statement
