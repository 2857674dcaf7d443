"""Email through Django's email backend: verification, instant notifications and the daily
digest. Every notification email carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.models import Event

from . import kinds
from .models import Channel, EmailAddress, Notification
from .services import unsubscribe_token, verify_token


def absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def _unsubscribe_headers(record: EmailAddress) -> dict[str, str]:
    url = absolute(reverse("notifications:unsubscribe", args=[unsubscribe_token(record)]))
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _message(record: EmailAddress, subject: str, lines: Sequence[str]) -> EmailMessage:
    headers = _unsubscribe_headers(record)
    footer = f"\n\nUnsubscribe from these emails: {headers['List-Unsubscribe'][1:-1]}\n"
    return EmailMessage(subject=subject, body="\n".join(lines) + footer, to=[record.address], headers=headers)


def send_verification(*, email_id: int) -> None:
    record = EmailAddress.objects.filter(pk=email_id, verified_at__isnull=True).first()
    if record is None:
        return
    url = absolute(reverse("notifications:email_verify", args=[verify_token(record)]))
    EmailMessage(
        subject="Confirm your email address for the iDAO Portal",
        body=f"Follow this link to receive iDAO Portal notifications at this address:\n\n{url}\n",
        to=[record.address],
    ).send()


def _line(event: Event) -> str:
    return f"- {kinds.title(event)}\n  {absolute(kinds.link(event))}"


def send_instant(*, notification_ids: Sequence[int]) -> int:
    """Send each pending notification email once: the row is locked and marked sent in the
    transaction that sends it (a failed send rolls the mark back and the task retries)."""
    sent = 0
    with get_connection() as connection:
        for nid in notification_ids:
            with transaction.atomic():
                row = (
                    Notification.objects.select_for_update(skip_locked=True)
                    .select_related("event", "recipient")
                    .filter(pk=nid, channel=Channel.EMAIL, status=Notification.Status.PENDING)
                    .first()
                )
                if row is None:
                    continue
                record = EmailAddress.objects.filter(
                    user_id=row.recipient_id, verified_at__isnull=False, unsubscribed_at__isnull=True
                ).first()
                if record is None:
                    Notification.objects.filter(pk=nid).update(status=Notification.Status.FAILED)
                    continue
                message = _message(record, kinds.title(row.event), [_line(row.event)])
                message.connection = connection
                message.send()
                Notification.objects.filter(pk=nid).update(status=Notification.Status.SENT, sent_at=timezone.now())
                sent += 1
    return sent


def send_digests(*, now: datetime | None = None, every: timedelta = timedelta(hours=24)) -> int:
    """One email per daily-digest person whose last digest is older than `every`."""
    now = now or timezone.now()
    sent = 0
    due = EmailAddress.objects.filter(
        digest=EmailAddress.Digest.DAILY, verified_at__isnull=False, unsubscribed_at__isnull=True
    ).exclude(last_digest_at__gt=now - every)
    for record_id in due.values_list("id", flat=True):
        with transaction.atomic():
            record = EmailAddress.objects.select_for_update(skip_locked=True).filter(pk=record_id).first()
            if record is None or (record.last_digest_at and record.last_digest_at > now - every):
                continue
            rows = list(
                Notification.objects.select_for_update()
                .select_related("event")
                .filter(recipient_id=record.user_id, channel=Channel.EMAIL, status=Notification.Status.DIGEST)
                .order_by("id")
            )
            if not rows:
                continue
            lines = [f"{len(rows)} notification(s) since your last digest:", ""] + [_line(r.event) for r in rows]
            _message(record, f"Your iDAO Portal digest: {len(rows)} notification(s)", lines).send()
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
                status=Notification.Status.SENT, sent_at=now
            )
            EmailAddress.objects.filter(pk=record.pk).update(last_digest_at=now)
            sent += 1
    return sent
