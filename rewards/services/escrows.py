"""Contributor payouts held while a DAT can still be challenged (issue #14, point 5).

At an epoch close, the contributor line of every DAT still inside its challenge window (or under
challenge) is paid to the DAT's escrow account `escrow:dat:<id>` instead of its owner. When the
window closes with no challenge open, `escrows_release_due` (the close task, after closing) moves
what the escrow holds to the owner in one ledger transaction keyed `rewards:escrow:dat:<id>:release`,
or to the reward pool when a challenge of the DAT was upheld. A challenge decided while the escrow
holds empties it itself (dats.services.challenges: upheld to the pool, dismissed or void to the owner).

Time is the database's clock read after the DAT row is locked (`dats.services.challenges.window_clock`):
the close locks the DATs it may hold FOR SHARE, a challenge and a release lock the DAT FOR UPDATE,
so a payout is held or paid, and an escrow released or challenged, exactly once."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from dats import hooks
from dats.models import DAT, Challenge
from dats.services.challenges import window_clock
from ledger import owners
from ledger import services as ledger_services
from ledger.models import Balance, Transaction
from ledger.models import Kind as LedgerKind
from ledger.selectors import balances
from portal.errors import DomainError

from .. import conf, sql
from ..models import Attribution, Epoch, Payout, PayoutRole

log = logging.getLogger(__name__)

ESCROW_PREFIX = "escrow:dat:"
ASSETS = ("LAZ", "CREDIT")


def release_key(dat_id: int) -> str:
    return f"rewards:escrow:dat:{dat_id}:release"


def dats_to_hold(*, epoch: Epoch) -> list[int]:
    """Inside the close's transaction, after the attribution and before the payout table: lock the
    DATs whose contributor line may have to wait (the contested ones, FOR SHARE, and those
    attributed this epoch that may be inside their challenge window), then read the clock; the
    ids of those still inside their window. Contested DATs' lines go to escrow in sql.PAYOUTS."""
    # The rewards window provider never ends a window later than two epochs after the mint, so only
    # DATs minted since then can be inside theirs (the provider is then asked about those few).
    horizon = window_clock() - 2 * timedelta(seconds=conf.epoch_seconds())
    recent = list(
        DAT.objects.filter(
            pk__in=Attribution.objects.filter(epoch=epoch, dat_id__isnull=False).values("dat_id"),
            minted_at__gte=horizon,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if connection.vendor == "postgresql":  # SQLite serialises writers anyway
        # Hold a challenge's filing or decision and an escrow's release until these lines are in.
        with connection.cursor() as cursor:
            cursor.execute(sql.LOCK_HELD, [recent])
    if not recent:
        return []
    now = window_clock()
    ends = hooks.challenge_window_ends(list(DAT.objects.filter(pk__in=recent).select_related("round__quorum")))
    return sorted(pk for pk, end in ends.items() if now <= end)


def payouts_hold(*, epoch: Epoch, dat_ids: list[int]) -> int:
    """Inside the close's transaction, after the payout table: these DATs' contributor lines are
    paid to their escrow. The number of lines held."""
    if not dat_ids:
        return 0
    return Payout.objects.filter(epoch=epoch, role=PayoutRole.CONTRIBUTOR, dat_id__in=dat_ids).update(
        recipient=Concat(Value(ESCROW_PREFIX), Cast("dat_id", CharField()))
    )


def escrows_release_due() -> list[int]:
    """Release every DAT escrow whose challenge window has closed with no challenge open; the DAT
    ids released. Safe to run any number of times, by any number of workers."""
    held = (
        Balance.objects.filter(account__owner__startswith=ESCROW_PREFIX)
        .exclude(amount=0)
        .values_list("account__owner", flat=True)
        .distinct()
    )
    ids = sorted({int(owner.removeprefix(ESCROW_PREFIX)) for owner in held})
    if not ids:
        return []
    dats = list(DAT.objects.filter(pk__in=ids, contested_at__isnull=True).select_related("round__quorum"))
    ends = hooks.challenge_window_ends(dats)
    now = window_clock()
    released = []
    for pk in sorted(ends):
        if ends[pk] >= now:
            continue
        try:
            if escrow_release(dat_id=pk) is not None:
                released.append(pk)
        except DomainError:  # one DAT's refusal (say, its key reused) must not hold back the others
            log.exception("the escrow of DAT #%s was not released", pk)
    return released


def escrow_release(*, dat_id: int) -> Transaction | None:
    """Move what a DAT's escrow holds to its owner (to the reward pool after an upheld challenge)
    once its challenge window has closed with no challenge open. None when there is nothing to
    release: the window is open, a challenge is open, or the escrow is empty (released before)."""
    with transaction.atomic():
        dat = (
            DAT.objects.select_for_update(of=("self",))
            .select_related("owner", "round__quorum")
            .filter(pk=dat_id)
            .first()
        )
        if dat is None or dat.contested_at is not None:
            return None
        now = window_clock()  # after the lock: a challenge that got it first has set contested_at
        if now <= hooks.challenge_window_ends([dat])[dat.pk]:
            return None
        held = {a: v for a, v in ((a, balances([dat.escrow_owner], a)[dat.escrow_owner]) for a in ASSETS) if v > 0}
        if not held:
            return None
        upheld = Challenge.objects.filter(dat=dat, state=Challenge.State.UPHELD).exists()
        to = owners.REWARD_POOL if upheld else owners.user(dat.owner.address)
        postings = [(dat.escrow_owner, a, -v) for a, v in held.items()] + [(to, a, v) for a, v in held.items()]
        return ledger_services.transaction_post(
            kind=LedgerKind.TRANSFER,
            postings=postings,
            idempotency_key=release_key(dat.pk),
            memo=f"DAT #{dat.pk}: escrowed payouts released, its challenge window closed",
        )
