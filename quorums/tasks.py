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
def rounds_draw_task(self: Task, round_ids: list[int], tries: int = 0) -> None:
    """Draw the committees of rounds waiting for their public-chain block (quorums.beacon). While
    the block does not exist yet or the chain cannot be read, try again every
    QUORUM_DRAW_RETRY_SECONDS, up to 50 times; the sweep draws whatever is still waiting after that."""
    from .services.rounds import rounds_draw

    result = run_with_retries(self, rounds_draw, round_ids=list(round_ids))
    if result["waiting"] and tries < 50:
        rounds_draw_task.apply_async(
            args=[list(round_ids), tries + 1], countdown=float(getattr(settings, "QUORUM_DRAW_RETRY_SECONDS", 4.0))
        )


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def sweep(self: Task) -> dict:
    """Close overdue rounds (database time), release matured unbonds, run downstream sweeps
    (contributions routes waiting uploads). Covers messages the broker lost."""
    from . import hooks
    from .services.bonds import unbonds_release_due
    from .services.rounds import rounds_close, rounds_draw

    drawing = list(Round.objects.filter(state=RoundState.DRAWING).order_by("pk").values_list("pk", flat=True)[:500])
    drawn = rounds_draw(round_ids=drawing)["drawn"] if drawing else 0
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
    return {"closed": closed, "released": released, "drawn": drawn}
