"""Celery tasks: thin and safe to run twice (sealing claims leaves under a row lock)."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from . import anchoring, services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def seal_block() -> int | None:
    block = services.block_seal()
    if block is not None and anchoring.configured():
        transaction.on_commit(lambda: publish_block.delay(block.height))
    return block.height if block else None


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=10,
)
def publish_block(height: int) -> str | None:
    return anchoring.block_publish(height=height)
