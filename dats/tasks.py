"""Contribution tasks: thin, take ids, idempotent (routing proceeds only from `uploaded`)."""

from __future__ import annotations

from celery import Task, shared_task

from portal.tasks import ParkingTask, run_with_retries


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def contribution_route_task(self: Task, contribution_id: int) -> None:
    """Route this contribution, and with it other uploaded ones still queued (see
    contribution_route_batch); a delivery for a contribution already routed does nothing else."""
    from .contributions import contribution_route_batch

    run_with_retries(self, contribution_route_batch, contribution_id=contribution_id)
