"""Reward epochs: the open epoch that receives usage, and the close that pays everybody once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from idaos.services import treasury
from ledger import merkle, owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from portal.events import emit_many

from .. import conf, sql
from ..errors import PayoutMismatch
from ..models import Epoch, EpochState, Payout
from ..rules import PAYOUT_LEAF_TYPES, payout_leaf
from ..selectors import epochs_due
from . import escrows

log = logging.getLogger(__name__)

ANCHOR_KIND = "rewards.epoch"


def epoch_current(*, now: datetime) -> Epoch:
    """The epoch receiving usage at `now`, created when the previous one has ended. Epochs follow
    each other without overlap; concurrent creators insert the same row and one of them wins."""
    latest = Epoch.objects.order_by("-number").first()
    if latest is not None and now < latest.ends_at:
        return latest
    length = conf.epoch_seconds()
    aligned = datetime.fromtimestamp(int(now.timestamp()) // length * length, tz=UTC)
    starts_at = max(aligned, latest.ends_at) if latest is not None else aligned
    number = latest.number + 1 if latest is not None else 1
    Epoch.objects.bulk_create(
        [Epoch(number=number, starts_at=starts_at, ends_at=aligned + timedelta(seconds=length))], ignore_conflicts=True
    )
    return Epoch.objects.get(number=number)


def epoch_lock_for_usage(*, now: datetime) -> Epoch:
    """Inside the caller's transaction: the open epoch for `now`, share-locked on PostgreSQL so
    a close (which updates the row) waits for this report to commit, or this report moves on to
    the next epoch when the close came first."""
    # SQLite runs one writer at a time, so a plain read of the state is as good as the lock.
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    for _ in range(5):
        epoch = epoch_current(now=now)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM rewards_epoch WHERE id = %s AND state = 'open'{lock}", [epoch.pk])  # noqa: S608
            if cursor.fetchone() is not None:
                return epoch
        now = max(now, epoch.ends_at)
    raise RuntimeError("No open epoch could be locked for usage.")


def epochs_close_due(*, now: datetime | None = None) -> list[int]:
    """Close every ended epoch in order (each in its own transaction); the ids closed here."""
    closed = []
    for epoch_id in epochs_due(now=now or timezone.now()):
        if epoch_close(epoch_id=epoch_id, now=now) is None:
            break
        closed.append(epoch_id)
    return closed


def epoch_close(*, epoch_id: int, now: datetime | None = None) -> Epoch | None:
    """Compute and pay an ended epoch's rewards. Returns None when another worker has closed it,
    is closing it, or an earlier epoch is still open. One transaction: claim, payout table,
    ledger batch, anchor; a failure leaves the epoch open to be retried."""
    now = now or timezone.now()
    with transaction.atomic():
        epoch = Epoch.objects.filter(pk=epoch_id).first()
        if epoch is None or Epoch.objects.filter(number__lt=epoch.number, state=EpochState.OPEN).exists():
            return None
        # The claim: a second closer blocks on this row until we commit, then matches nothing.
        if not Epoch.objects.filter(pk=epoch_id, state=EpochState.OPEN, ends_at__lte=now).update(
            state=EpochState.CLOSED, closed_at=now
        ):
            return None
        epoch.refresh_from_db()
        _compute(epoch)
        _pay(epoch)
        # The iDAO treasuries' standing orders, after the epoch's share has reached them.
        treasury.streams_pay(epoch_number=epoch.number)
        epoch.save()
        emit_many(
            [
                dict(
                    kind="payout.received",
                    idao=i,
                    subject=f"epoch:{epoch.number}",
                    recipients=[u],
                    payload={
                        "title": f"{total} {asset} (epoch {epoch.number})",
                        "asset": asset,
                        "amount": str(total),
                        "url": "/earnings/",
                    },
                )
                # Lines held in a DAT's escrow are not received yet (released when its window closes).
                for u, i, asset, total in Payout.objects.filter(epoch=epoch, user__isnull=False)
                .exclude(recipient__startswith=escrows.ESCROW_PREFIX)
                .values_list("user_id", "idao_id", "asset")
                .annotate(total=Sum("amount"))
                .order_by("user_id", "idao_id", "asset")
            ]
        )
    log.info("closed %s: %s LAZ, %s CREDIT in %s payouts", epoch, epoch.pool_laz, epoch.pool_credit, epoch.payout_count)
    return epoch


def _compute(epoch: Epoch) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # These statements are cheap but estimated as costly: compiling them (JIT) took longer than running them.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql.USAGE_TOTALS, [epoch.pk])
        count, weighted, fees = cursor.fetchone()
        epoch.event_count, epoch.weighted_usage = int(count), int(weighted)
        cursor.execute(
            sql.ATTRIBUTE, {"epoch": epoch.pk, "model_bps": conf.model_dat_bps(), "scale": conf.WEIGHT_SCALE}
        )
        attributed = cursor.rowcount > 0
        # No usage: nothing to share, so nothing is minted; fees (none) stay put.
        epoch.pool_laz = conf.emission_laz() if attributed else 0
        epoch.pool_credit = int(fees) if attributed else 0
        if not attributed:
            return
        # The contributor line of a DAT still inside its challenge window (or contested) goes to its
        # escrow: those DATs are locked first, so a challenge or an escrow release racing this close
        # waits for it, and the payout lands held or paid, once (rewards.services.escrows).
        held = escrows.dats_to_hold(epoch=epoch)
        cursor.execute(
            sql.PAYOUTS, {"epoch": epoch.pk, "pool_laz": int(epoch.pool_laz), "pool_credit": int(epoch.pool_credit)}
        )
        escrows.payouts_hold(epoch=epoch, dat_ids=held)
        cursor.execute(sql.TOTALS, [epoch.pk])
        totals = {asset: int(amount) for asset, amount in cursor.fetchall()}
    expected = {a: int(p) for a, p in (("LAZ", epoch.pool_laz), ("CREDIT", epoch.pool_credit)) if int(p) > 0}
    if totals != expected:
        raise PayoutMismatch(f"Epoch {epoch.number}'s payouts {totals} do not sum to its pool {expected}.")


def _pay(epoch: Epoch) -> None:
    pool = {"LAZ": int(epoch.pool_laz), "CREDIT": int(epoch.pool_credit)}
    batch: list[ledger_services.TransactionIn] = []
    if pool["LAZ"] > 0:
        have = ledger_selectors.balance(owners.REWARD_POOL, "LAZ")
        if have < pool["LAZ"]:
            batch.append(
                ledger_services.TransferIn(
                    source=owners.ISSUER,
                    destination=owners.REWARD_POOL,
                    asset="LAZ",
                    amount=pool["LAZ"] - have,
                    kind="mint",
                    idempotency_key=f"rewards:epoch:{epoch.number}:emission",
                    memo=f"Reward emission for epoch {epoch.number}",
                ).as_transaction()
            )
    with connection.cursor() as cursor:
        cursor.execute(sql.LEGS, [epoch.pk])
        legs = [(recipient, asset, int(amount)) for recipient, asset, amount in cursor.fetchall()]
    lines = list(
        Payout.objects.filter(epoch=epoch)
        .order_by("id")
        .values_list("id", "recipient", "asset", "role", "dat_id", "amount")
    )
    epoch.payout_count = len(lines)
    if legs:
        postings = [(owners.REWARD_POOL, asset, -amount) for asset, amount in pool.items() if amount > 0] + legs
        batch.append(
            ledger_services.TransactionIn(
                kind="reward",
                postings=postings,
                idempotency_key=f"rewards:epoch:{epoch.number}:payouts",
                memo=f"Rewards of epoch {epoch.number}",
            )
        )
    # The emission and the payouts it funds: one ledger batch, applied in this order.
    results = ledger_services.transactions_post(transactions=batch)
    if batch and batch[0].kind == "mint":
        emission = results[0].transaction
        if emission is None:  # atomic transactions_post raises the first refusal
            raise RuntimeError(f"epoch {epoch.number}: the emission was not posted")
        epoch.emission_tx_id = emission.pk
    if legs:
        tx = results[-1].transaction
        if tx is None:  # as above
            raise RuntimeError(f"epoch {epoch.number}: the payouts were not posted")
        epoch.payout_tx_id = tx.pk
        epoch.payout_leaf_id = tx.leaf.pk
    epoch.payouts_root = (
        merkle.to_hex(merkle.root_of([payout_leaf(epoch.number, *line) for line in lines])) if lines else ""
    )
    leaf = ledger_services.anchor(
        kind=ANCHOR_KIND,
        subject=f"epoch:{epoch.number}",
        payload={
            "epoch": epoch.number,
            "startsAt": epoch.starts_at.isoformat(),
            "endsAt": epoch.ends_at.isoformat(),
            "events": epoch.event_count,
            "weightedUsage": str(epoch.weighted_usage),
            "pool": {a: str(v) for a, v in pool.items()},
            "payouts": epoch.payout_count,
            "payoutsRoot": epoch.payouts_root,
            "ledgerTx": epoch.payout_tx_id,
            "leafTypes": PAYOUT_LEAF_TYPES,
        },
    )
    epoch.anchor_leaf_id = leaf.pk
