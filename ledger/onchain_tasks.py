"""The on-chain publisher's periodic task (imported through CELERY_IMPORTS; scheduled by
ledger/schedule.py only when LEDGER_ANCHOR_CHAIN_ID is set). Safe to run twice at once: planning
meets at unique indexes, nonces are drawn under a row lock, sending claims each row."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from . import onchain, outbox


def publish(*, now: datetime | None = None) -> bool:
    """One publisher pass: plan anchors and mirrored records, assign nonces, send, track receipts.
    Returns False when on-chain publication is off."""
    pub = outbox.publisher()
    if pub is None:
        return False
    now = now or timezone.now()
    onchain.anchors_plan(pub=pub, now=now)
    sender = outbox.sender_get(pub)
    for planner in outbox.PLANNERS:
        planner(pub=pub, sender=sender, now=now)
    outbox.outbox_run(pub=pub, now=now)
    return True


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def publish_onchain() -> bool:
    return publish()
