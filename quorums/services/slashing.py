"""Slashing: the one place LAZ leaves a validator's bond as a penalty.

Unbonding stake stays slashable until it is released: a slash takes from the bonded stake first,
then from the validator's pending unbonds in that quorum, newest first (the oldest last). The LAZ
of a pending unbond is still in the quorum's escrow, so the ledger transfer is the same either way."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from ledger import owners
from ledger import services as ledger
from ledger.models import Asset
from ledger.models import Kind as LedgerKind
from portal.events import emit

from ..consensus import slash_amount
from ..models import Bond, Round, Slash, Validator


def slashable(validator: Validator) -> tuple[int, list[Bond]]:
    """Inside a transaction: lock the validator and its pending unbonds; (bonded stake, pending
    unbonds newest first)."""
    Validator.objects.select_for_update().filter(pk=validator.pk).first()
    validator.refresh_from_db(fields=["stake", "state"])
    pending = list(
        Bond.objects.select_for_update()
        .filter(validator_id=validator.pk, kind=Bond.Kind.UNBOND, released_at__isnull=True)
        .order_by("-created_at", "-pk")
    )
    return int(validator.stake), pending


def apply_slash(
    *,
    validator: Validator,
    round_: Round | None,
    reason: str,
    rate_bps: int,
    key: str,
    idao: Any,
    committed: int | None = None,
    transfers: list[ledger.TransferIn] | None = None,
) -> Slash | None:
    """Move `rate_bps` of the stake at risk from escrow to the iDAO treasury (or the reward pool
    when no iDAO is involved). The stake at risk is `committed` (a seat's snapshot stake: what its
    verdict risked) or, without one (fraud cases), the bonded stake plus pending unbonds. Taken
    from bonded stake first, then from pending unbonds newest first, never more than both hold.
    Keyed by the event: a second call returns the first slash. With `transfers`, the ledger
    transfer is appended there for the caller to post with the rest of its batch
    (`ledger.transfers_post`, in the same transaction) instead of being posted now."""
    existing = Slash.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    stake, pending = slashable(validator)
    available = stake + sum(int(b.amount) - int(b.slashed) for b in pending)
    basis = available if committed is None else int(committed)
    amount = min(slash_amount(basis, rate_bps), available)
    if amount <= 0:
        return None
    destination = idao.treasury_owner if idao is not None else owners.REWARD_POOL
    move = ledger.TransferIn(
        source=owners.escrow(validator.quorum_id),
        destination=destination,
        asset=Asset.LAZ,
        amount=amount,
        kind=LedgerKind.SLASH,
        idempotency_key=key,
        memo=f"{reason} slash of {validator.address}",
    )
    if transfers is None:
        ledger.transfers_post(transfers=[move])
    else:
        transfers.append(move)
    from_stake = min(stake, amount)
    if from_stake:
        Validator.objects.filter(pk=validator.pk).update(stake=F("stake") - from_stake)
    rest = amount - from_stake
    for bond in pending:
        if rest <= 0:
            break
        take = min(int(bond.amount) - int(bond.slashed), rest)
        if take > 0:
            Bond.objects.filter(pk=bond.pk).update(slashed=F("slashed") + take)
            rest -= take
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
