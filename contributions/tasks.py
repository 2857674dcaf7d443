"""Contribution tasks: thin, take ids, idempotent (routing proceeds only from `uploaded`)."""

from __future__ import annotations

from celery import Task, shared_task

from portal.tasks import ParkingTask, run_with_retries


@shared_task(bind=True, base=ParkingTask, ignore_result=True)
def contribution_route_task(self: Task, contribution_id: int) -> None:
    """Route this contribution, and with it other uploaded ones still queued (see
    contributions_route_queued); a delivery for a contribution already routed does nothing else."""
    from .services import contributions_route_queued

    run_with_retries(self, contributions_route_queued, contribution_id=contribution_id)


@shared_task(ignore_result=True)
def staging_sweep_task() -> int:
    """Delete staged upload files older than PORTAL_STAGING_MAX_AGE seconds (default an hour),
    left behind by a process that died mid-upload. Safe to run twice or on several workers."""
    from django.conf import settings

    from .uploads import staging_sweep

    return staging_sweep(older_than_seconds=float(getattr(settings, "PORTAL_STAGING_MAX_AGE", 3600)))
