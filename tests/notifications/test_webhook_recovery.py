"""A webhook attempt interrupted by a worker crash (claimed, then nothing recorded) does not stay
`delivering` forever: the sweep re-queues it once it is older than the timeout plus a margin by
database time, the interrupted attempt counted once, and a real worker delivers it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models.functions import Now

from notifications import services
from notifications.models import WebhookAttempt, WebhookDelivery
from portal.events import emit
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.personas import BOB


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
