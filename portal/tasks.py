"""Task parking, shared by every app's Celery tasks: late acknowledgement with requeue on worker
loss (settings), a bounded number of retries, then the failure parks in ParkedTask for admins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from django.conf import settings

from .models import ParkedTask

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


def run_with_retries(task: Task, fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except Exception as exc:
        log.warning("%s failed (attempt %s): %s", task.name, task.request.retries + 1, exc)
        raise task.retry(exc=exc, countdown=retry_delay(), max_retries=max_retries()) from exc
