"""A webhook attempt interrupted by a worker crash (claimed, then nothing recorded) does not stay
`delivering` forever: the sweep re-queues it once it is older than the timeout plus a margin by
database time, the interrupted attempt counted once, and a real worker delivers it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now

from notifications import services
from notifications.models import WebhookAttempt, WebhookDelivery
from portal.events import emit
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.personas import BOB

ROOT = Path(__file__).resolve().parents[2]
WORKER = (sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "-Q", "notifications")
WORKER += ("--without-gossip", "--without-mingle", "--without-heartbeat")


def crashed_delivery(receiver, *, claimed_ago: timedelta) -> WebhookDelivery:
    """A delivery whose attempt was claimed `claimed_ago` (database time) by a worker that died."""
    hook, secret = services.webhook_create(owner=user_of(BOB), url=receiver.url)
    receiver.secret = secret
    with transaction.atomic():  # no recipients: the fan-out writes no delivery of its own
        event = emit(kind="payout.received", subject="epoch:7", payload={"title": "5 LAZ"}, recipients=[])
    delivery = WebhookDelivery.objects.create(event=event, webhook=hook)
    assert services._claim(delivery.pk)  # the worker's claim; it crashed before posting
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=Now() - claimed_ago)
    return delivery


def sweep(settings) -> list[int]:
    return services.webhooks_sweep(
        timeout=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT, max_attempts=settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS
    )


@pytest.mark.django_db(transaction=True)
def test_an_attempt_interrupted_by_a_worker_crash_is_requeued_and_delivered_counting_once(
    broker, celery_worker, receiver, private_targets
):
    stuck_for = timedelta(seconds=private_targets.NOTIFICATIONS_WEBHOOK_TIMEOUT + services.STUCK_MARGIN_SECONDS + 1)
    delivery = crashed_delivery(receiver, claimed_ago=stuck_for)

    assert sweep(private_targets) == [delivery.pk]
    assert sweep(private_targets) == []  # the second sweep finds nothing to re-queue

    wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").exists())
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    log = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code", "error"))
    assert log == [(1, None, services.INTERRUPTED), (2, 200, "")]
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]


@pytest.mark.django_db
def test_a_recent_claim_is_not_swept_and_a_stuck_one_out_of_attempts_fails(receiver, private_targets):
    settings = private_targets
    settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = 1
    recent = crashed_delivery(receiver, claimed_ago=timedelta(seconds=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT))
    assert sweep(settings) == []
    assert WebhookDelivery.objects.get(pk=recent.pk).status == "delivering"

    WebhookDelivery.objects.filter(pk=recent.pk).update(claimed_at=Now() - timedelta(hours=1))
    assert sweep(settings) == []
    recent.refresh_from_db()
    assert (recent.status, recent.attempts) == ("failed", 1) and recent.finished_at is not None
    assert WebhookAttempt.objects.filter(delivery=recent, error=services.INTERRUPTED).count() == 1


@pytest.mark.django_db
def test_a_late_outcome_does_not_overwrite_a_newer_attempt(receiver, private_targets):
    delivery = crashed_delivery(receiver, claimed_ago=timedelta(hours=1))
    assert sweep(private_targets) == [delivery.pk]
    assert services._claim(delivery.pk)  # attempt 2 is under way
    assert not services._finish(delivery.pk, 1, WebhookDelivery.Status.FAILED)  # attempt 1's worker woke up
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "delivering"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_attempt_leaves_a_delivering_row_that_the_sweep_recovers(
    broker, receiver, private_targets, tmp_path
):
    """A real `celery worker` process posts to a receiver that holds the request; it is SIGKILLed
    there, and the row stays `delivering`; once the claim is older than the cutoff the sweep
    re-queues it and a new worker delivers it."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE": "true",
        "NOTIFICATIONS_WEBHOOK_TIMEOUT": "60",
        "CONN_MAX_AGE": "0",
    }
    log = tmp_path / "worker.log"
    hook, secret = services.webhook_create(owner=user_of(BOB), url=receiver.url)
    receiver.secret = secret
    receiver.hold_first = threading.Event()
    with transaction.atomic():
        emit(kind="payout.received", subject="epoch:9", payload={"title": "5 LAZ"}, recipients=[user_of(BOB)])

    first = start_worker(env, log)
    try:
        wait_for(lambda: len(receiver.requests) == 1, timeout=60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        receiver.hold_first.set()
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.status, delivery.attempts) == ("delivering", 1)
    assert sweep(private_targets) == []  # claimed moments ago: maybe still under way

    second = start_worker(env, log)
    try:
        # As time passes (database time): the claim is now older than the timeout plus the margin.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            claimed_at=Now() - timedelta(seconds=60 + services.STUCK_MARGIN_SECONDS + 1)
        )
        assert services.webhooks_sweep(timeout=60, max_attempts=5) == [delivery.pk]
        wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").exists(), timeout=60)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=20)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    log_rows = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code", "error"))
    assert log_rows == [(1, None, services.INTERRUPTED), (2, 200, "")]
    assert [r["delivery"] for r in receiver.requests] == [str(delivery.pk)] * 2  # receivers dedupe on it
    assert all(r["verified"] for r in receiver.requests)


def start_worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [*WORKER, "-n", f"webhook-crash-{os.getpid()}@%h"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_the_sweep_and_the_reminders_are_on_the_beat_schedule():
    from notifications import tasks
    from portal.celery import beat_schedule

    schedule = beat_schedule()
    for name, task in [
        ("notifications-webhooks-sweep", "notifications.tasks.webhooks_sweep"),
        ("notifications-reminders", "notifications.tasks.reminders_send"),  # also delegations_remind
    ]:
        assert schedule[name]["task"] == task and schedule[name]["schedule"] <= 60
        assert getattr(tasks, task.rsplit(".", 1)[1]).name == task
