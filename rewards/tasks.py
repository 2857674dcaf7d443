"""Celery tasks: thin, idempotent. Two beat schedulers firing the close task both call
epochs_close_due; the conditional UPDATE in epoch_close lets exactly one of them pay. The same
task then releases the escrows whose challenge window has closed (once each: the DAT row lock
and the emptied escrow make a second release move nothing)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def close_due_epochs() -> list[int]:
    from .services.epochs import epochs_close_due
    from .services.escrows import escrows_release_due

    closed = epochs_close_due()
    escrows_release_due()
    return closed


@shared_task(ignore_result=True)
def demo_pipeline_tick() -> int:
    """The simulated pipeline of the embedded demo (only with REWARDS_DEMO_PIPELINE)."""
    from . import conf, demo

    if not conf.demo_pipeline():
        return 0
    return demo.pipeline_tick()
