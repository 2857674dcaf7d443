"""The Celery app. Each domain app may declare periodic work in `<app>/schedule.py` as a dict
named BEAT; they are merged here so no app has to edit another's settings."""

from __future__ import annotations

import importlib
import os

from celery import Celery
from celery.signals import task_prerun, worker_process_init, worker_ready

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


@worker_process_init.connect
@worker_ready.connect
def _freeze_start_up_objects(**_: object) -> None:
    # Everything loaded at start-up (Django, the apps, the libraries: a few hundred thousand
    # objects) lives as long as the process; frozen, the collector stops scanning it, and a full
    # collection in the middle of a task costs a few milliseconds instead of ~100. Frozen in each
    # pool process when it starts and again once the worker is ready (after the receivers that
    # load what tasks need, e.g. dats' MinHash libraries).
    from portal.startup import freeze_startup_objects

    freeze_startup_objects()
