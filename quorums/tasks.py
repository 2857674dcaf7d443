"""Celery tasks: thin, take ids, safe to run twice. Late acknowledgement with requeue on worker
loss is global (settings); failures retry a bounded number of times, then park in ParkedTask."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db.models.functions import Now

from .models import ParkedTask, Round, RoundState

log = logging.getLogger(__name__)


def max_retries() -> int:
    return getattr(settings, "PORTAL_TASK_MAX_RETRIES", 3)


def retry_delay() -> float:
    return getattr(settings, "PORTAL_TASK_RETRY_DELAY", 5)


class ParkingTask(Task):
    """Retried with self.retry(); once retries are exhausted the failure is parked for admins."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        ParkedTask.objects.get_or_create(
            task_id=task_id,
            defaults={
                "task_name": self.name,
                "args": list(args),
                "kwargs": dict(kwargs),
                "error": f"{type(exc).__name__}: {exc}",
                "retries": self.request.retries,
            },
        )


def run_with_retries(task: Task, fn, **kwargs):
    try:
        return fn(**kwargs)
    except Exception as exc:
        log.warning("%s failed (attempt %s): %s", task.name, task.request.retries + 1, exc)
        raise task.retry(exc=exc, countdown=retry_delay(), max_retries=max_retries()) from exc


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def round_close_task(self: Task, round_id: int) -> None:
    from .rounds import round_close

    run_with_retries(self, round_close, round_id=round_id)


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def rounds_close_task(self: Task, round_ids: list[int]) -> None:
    """Close many rounds that became decisive in one verdict batch: one transaction for all (each
    round closed exactly as round_close_task would), falling back to one transaction per round."""
    from .rounds import rounds_close

    run_with_retries(self, rounds_close, round_ids=list(round_ids))


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def sweep(self: Task) -> dict:
    """Close overdue rounds (database time), release matured unbonds, run downstream sweeps
    (dats routes waiting contributions). Covers messages the broker lost."""
    from . import hooks
    from .rounds import rounds_close
    from .services import unbonds_release_due

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
    from .services import demo_accounts
    from .validator_node import run_once

    return run_once(demo_accounts(count=getattr(settings, "PORTAL_DEMO_VALIDATOR_COUNT", 3)))
