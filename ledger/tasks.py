"""Celery tasks: thin and safe to run twice (sealing claims leaves under a row lock)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def seal_block() -> int | None:
    block = services.block_seal()
    return block.height if block else None
