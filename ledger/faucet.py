"""The demo/test LAZ faucet (only with PORTAL_DEMO=true): a signed-in user draws
PORTAL_FAUCET_LAZ once per UTC day. A mint through the ledger like any other; its idempotency
key is the business event (this address, this day), so a second draw the same day moves nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from django.conf import settings
from django.utils import timezone

from portal.errors import DomainError, NotFound

from . import owners
from .models import Transaction
from .services import APPLIED, TransferIn, transfers_post


def faucet_enabled() -> bool:
    return bool(getattr(settings, "PORTAL_DEMO", False))


def faucet_amount() -> int:
    return int(getattr(settings, "PORTAL_FAUCET_LAZ", 1_000))


def faucet_drip(*, address: str, now: datetime | None = None) -> Transaction:
    """Mint today's faucet LAZ to `address`; 404 while the demo is off, 429 after today's draw."""
    if not faucet_enabled():
        raise NotFound("The LAZ faucet exists only on demo and test portals.")
    day = (now or timezone.now()).astimezone(UTC).date()
    result = transfers_post(
        transfers=[
            TransferIn(
                source=owners.ISSUER,
                destination=owners.user(address),
                asset="LAZ",
                amount=faucet_amount(),
                kind="mint",
                idempotency_key=f"faucet:{address.lower()}:{day.isoformat()}",
                memo="demo faucet",
            )
        ]
    )[0]
    if result.status != APPLIED:
        raise DomainError(
            "You already drew today's demo LAZ; come back tomorrow (UTC).", code="rate_limited", status=429
        )
    return cast(Transaction, result.transaction)  # an applied result carries its transaction
