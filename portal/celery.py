"""The Celery app. Each domain app may declare periodic work in `<app>/schedule.py` as a dict
named BEAT; they are merged here so no app has to edit another's settings."""

from __future__ import annotations

import importlib
import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

SCHEDULED_APPS = ("ledger", "idaos", "quorums", "contributions", "dats", "rewards", "notifications")


def beat_schedule() -> dict:
    schedule: dict = {}
    for name in SCHEDULED_APPS:
        try:
            module = importlib.import_module(f"{name}.schedule")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.schedule":
                raise
            continue
        schedule.update(module.BEAT)
    return schedule


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **_: object) -> None:
    sender.conf.beat_schedule = beat_schedule()


@task_prerun.connect
def _retire_stale_connections(**_: object) -> None:
    # Connections are reused across tasks (CELERY_DB_REUSE_MAX); like a request, each task
    # starts by dropping connections that are broken or older than CONN_MAX_AGE.
    from django.db import close_old_connections

    close_old_connections()
