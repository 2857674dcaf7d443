"""Celery tasks: thin, take ids, safe to run twice. Late acknowledgement with requeue on worker
loss is global (settings); failures retry a bounded number of times, then park in
portal.models.ParkedTask (portal.tasks.ParkingTask)."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db.models.functions import Now

from portal.tasks import ParkingTask, run_with_retries

from .models import Round, RoundState

log = logging.getLogger(__name__)


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def round_close_task(self: Task, round_id: int) -> None:
    from .services.rounds import round_close

    run_with_retries(self, round_close, round_id=round_id)


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def rounds_close_task(self: Task, round_ids: list[int]) -> None:
    """Close many rounds that became decisive in one verdict batch: one transaction for all (each
    round closed exactly as round_close_task would), falling back to one transaction per round."""
    from .services.rounds import rounds_close

    run_with_retries(self, rounds_close, round_ids=list(round_ids))


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def sweep(self: Task) -> dict:
    """Close overdue rounds (database time), release matured unbonds, run downstream sweeps
    (contributions routes waiting uploads). Covers messages the broker lost."""
    from . import hooks
    from .services.bonds import unbonds_release_due
    from .services.rounds import rounds_close

    closed = 0
    overdue = list(
        Round.objects.filter(state=RoundState.OPEN, deadline__lte=Now())
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
    for start in range(0, len(overdue), 50):
        batch = overdue[start : start + 50]
        try:
            rounds_close(round_ids=batch)
            closed += len(batch)
        except Exception:
            log.exception("sweep could not close every round of %s", batch)
    released = unbonds_release_due()
    hooks.run_sweeps()
    return {"closed": closed, "released": released}


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def demo_validators_run(self: Task) -> int:
    """Demo only (PORTAL_DEMO_VALIDATORS=true): the deterministic demo validators sign their
    current assignments, so the embedded portal shows contributions going all the way through."""
    from .services.bonds import demo_accounts
    from .validator_node import run_once

    return run_once(demo_accounts(count=getattr(settings, "PORTAL_DEMO_VALIDATOR_COUNT", 3)))
