"""DAT tasks: thin, take ids, idempotent."""

from __future__ import annotations

from celery import Task, shared_task

from portal.tasks import ParkingTask, run_with_retries


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def dats_minhash_task(self: Task, dat_ids: list[int]) -> None:
    """Compute and publish the MinHash of DATs minted without one (files above the at-mint size);
    a DAT that has its signature already is left alone."""
    from .services.minhashes import dats_minhash_store

    run_with_retries(self, dats_minhash_store, dat_ids=dat_ids)
