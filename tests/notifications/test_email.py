"""Email against a real SMTP server (aiosmtpd): the verification link, instant notifications with
List-Unsubscribe (RFC 8058 one-click), the daily digest, and unsubscribing."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from django.test import Client

from notifications import services
from notifications.models import EmailAddress, Notification
from notifications.tasks import email_digest
from portal.events import emit
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.personas import BOB


def link_in(message, path: str) -> str:
    body = message.get_payload(decode=True).decode()
    return re.search(rf"https?://[^/\s]+({re.escape(path)}[^\s>]+)", body).group(1)


def verified_bob(smtp, *, digest="instant") -> EmailAddress:
    bob = user_of(BOB)
    services.email_set(user=bob, address="bob@example.org", digest=digest)
    wait_for(lambda: smtp.messages)
    verification = smtp.messages.pop()
    assert verification["To"] == "bob@example.org"
    response = Client().get(link_in(verification, "/notifications/email/verify/"))
    assert response.status_code == 200
    record = EmailAddress.objects.get(user=bob)
    assert record.verified_at is not None
    return record


def payout(n: int = 1):
    with transaction.atomic():
        return emit(
            kind="payout.received", subject=f"epoch:{n}", payload={"title": f"{n} LAZ"}, recipients=[user_of(BOB)]
        )


@pytest.mark.django_db(transaction=True)
def test_no_email_before_the_address_is_verified(worker, smtp):
    bob = user_of(BOB)
    services.email_set(user=bob, address="bob@example.org")
    wait_for(lambda: smtp.messages)  # the verification email only
    payout()
    wait_for(lambda: Notification.objects.filter(recipient=bob, channel="inapp").exists())
    assert not Notification.objects.filter(recipient=bob, channel="email").exists()
    assert [m["Subject"] for m in smtp.messages] == ["Confirm your email address for the iDAO Portal"]


@pytest.mark.django_db(transaction=True)
def test_instant_email_carries_one_click_unsubscribe_that_stops_further_email(worker, smtp):
    verified_bob(smtp)
    payout(1)
    wait_for(lambda: smtp.messages)
    message = smtp.messages.pop()
    assert message["Subject"] == "You received an epoch payout: 1 LAZ"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.sub(r"\s+", "", message["List-Unsubscribe"]).strip("<>")
    path = re.sub(r"^https?://[^/]+", "", url)
    # RFC 8058: the mail client POSTs the one-click body without cookies or CSRF token
    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert EmailAddress.objects.get(user=user_of(BOB)).unsubscribed_at is not None
    payout(2)
    wait_for(lambda: Notification.objects.filter(recipient=user_of(BOB), channel="inapp").count() == 2)
    assert smtp.messages == []
    assert not Notification.objects.filter(recipient=user_of(BOB), channel="email", event__subject="epoch:2").exists()


@pytest.mark.django_db(transaction=True)
def test_daily_digest_sends_one_email_with_every_pending_notification_once(worker, smtp):
    verified_bob(smtp, digest="daily")
    for n in (1, 2, 3):
        payout(n)
    wait_for(lambda: Notification.objects.filter(channel="email", status="digest").count() == 3)
    assert smtp.messages == []  # nothing instant
    email_digest.delay()
    email_digest.delay()  # twice: still one digest
    wait_for(lambda: not Notification.objects.filter(channel="email", status="digest").exists())
    wait_for(lambda: smtp.messages)
    (digest,) = smtp.messages
    body = digest.get_payload(decode=True).decode()
    assert digest["Subject"] == "Your iDAO Portal digest: 3 notification(s)"
    assert all(f"{n} LAZ" in body for n in (1, 2, 3))
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.django_db
def test_a_tampered_unsubscribe_token_is_refused(client):
    response = client.post("/notifications/unsubscribe/not-a-token")
    assert response.status_code == 400
