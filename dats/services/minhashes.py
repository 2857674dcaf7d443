"""The published MinHash signatures of DATs minted without one (dats.minhash)."""

from __future__ import annotations

from django.db import transaction

from ..minhash import minhash_of, next_seqs
from ..models import DAT


def dats_minhash_store(*, dat_ids: list[int]) -> int:
    """Compute each DAT's signature (outside any transaction: reading is the slow part), then
    store it with its place in the published list. Idempotent: DATs that have one keep it.
    Returns how many were stored."""
    dats = list(DAT.objects.select_related("contribution").filter(pk__in=dat_ids, minhash_seq__isnull=True))
    computed = {dat.pk: minhash_of(dat.contribution) for dat in dats}
    computed = {pk: m for pk, m in computed.items() if m is not None}
    stored = 0
    with transaction.atomic():
        locked = list(
            DAT.objects.select_for_update().filter(pk__in=list(computed), minhash_seq__isnull=True).order_by("pk")
        )
        for dat, seq in zip(locked, next_seqs(len(locked)), strict=True):
            DAT.objects.filter(pk=dat.pk).update(minhash=computed[dat.pk], minhash_seq=seq)
            stored += 1
    return stored
