"""Celery tasks of the notifications app: they take ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from portal.tasks import ParkingTask, run_with_retries

from . import emails, services


@shared_task(bind=True, base=ParkingTask)
def fanout(self, event_ids: list[int]) -> None:
    for event_id in event_ids:
        run_with_retries(self, services.event_fanout, event_id=event_id)


@shared_task(bind=True, base=ParkingTask)
def webhook_deliver(self, delivery_ids: list[int]) -> None:
    """One attempt per delivery; a retryable failure re-enqueues that delivery with backoff."""
    for delivery_id in delivery_ids:
        delay = services.webhook_attempt(
            delivery_id=delivery_id,
            max_attempts=settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS,
            disable_after=settings.NOTIFICATIONS_WEBHOOK_DISABLE_AFTER,
        )
        if delay is not None:
            webhook_deliver.apply_async(([delivery_id],), countdown=delay * settings.NOTIFICATIONS_WEBHOOK_RETRY_BASE)


@shared_task(bind=True, base=ParkingTask)
def email_send(self, notification_ids: list[int]) -> None:
    run_with_retries(self, emails.send_instant, notification_ids=notification_ids)


@shared_task(bind=True, base=ParkingTask)
def email_send_verification(self, email_id: int) -> None:
    run_with_retries(self, emails.send_verification, email_id=email_id)


@shared_task(bind=True, base=ParkingTask)
def email_digest(self) -> None:
    run_with_retries(self, emails.send_digests)


@shared_task(bind=True, base=ParkingTask)
def reminders_send(self) -> None:
    """Beat: proposals closing in 24 h / 1 h, rounds expiring without your verdict, delegations
    expiring in 7 days / 1 day (once each)."""
    run_with_retries(self, services.proposals_remind)
    run_with_retries(self, services.rounds_remind)
    run_with_retries(self, services.delegations_remind)


@shared_task(bind=True, base=ParkingTask)
def webhooks_sweep(self) -> None:
    """Beat: re-queue webhook attempts a crashed worker left `delivering`."""
    run_with_retries(
        self,
        services.webhooks_sweep,
        timeout=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT,
        max_attempts=settings.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS,
    )
