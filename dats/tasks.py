"""Contribution tasks: thin, take ids, idempotent (routing proceeds only from `uploaded`)."""

from __future__ import annotations

from celery import Task, shared_task

from quorums.tasks import ParkingTask, run_with_retries


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def contribution_route_task(self: Task, contribution_id: int) -> None:
    from .contributions import contribution_route

    run_with_retries(self, contribution_route, contribution_id=contribution_id)
