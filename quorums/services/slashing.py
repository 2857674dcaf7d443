"""Slashing: the one place LAZ leaves a validator's bond as a penalty."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from ledger import owners
from ledger import services as ledger
from ledger.models import Asset
from ledger.models import Kind as LedgerKind
from portal.events import emit

from ..consensus import slash_amount
from ..models import Round, Slash, Validator


def apply_slash(
    *, validator: Validator, round_: Round | None, reason: str, rate_bps: int, key: str, idao: Any
) -> Slash | None:
    """Move `rate_bps` of the validator's current stake from escrow to the iDAO treasury (or the
    reward pool when no iDAO is involved). Keyed by the event: a second call returns the first slash."""
    existing = Slash.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    Validator.objects.select_for_update().filter(pk=validator.pk).first()
    validator.refresh_from_db(fields=["stake"])
    amount = slash_amount(int(validator.stake), rate_bps)
    if amount <= 0:
        return None
    destination = idao.treasury_owner if idao is not None else owners.REWARD_POOL
    ledger.transfer(
        source=owners.escrow(validator.quorum_id),
        destination=destination,
        asset=Asset.LAZ,
        amount=amount,
        kind=LedgerKind.SLASH,
        idempotency_key=key,
        memo=f"{reason} slash of {validator.address}",
    )
    Validator.objects.filter(pk=validator.pk).update(stake=F("stake") - amount)
    emit(
        kind="validator.slashed",
        idao=idao,
        subject=f"validator:{validator.pk}",
        recipients=[validator.user_id],
        payload={
            "title": f"{reason}: {amount} LAZ",
            "reason": reason,
            "amount": str(amount),
            "round": round_.pk if round_ else None,
        },
    )
    return Slash.objects.create(
        validator=validator, round=round_, reason=reason, amount=amount, destination=destination, idempotency_key=key
    )
