"""Webhooks against a real HTTP receiver: signed bodies, retries with backoff, the delivery log,
disabling after repeated failures (its owner told), the test button, and the SSRF guard."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from notifications import services, webhooks
from notifications.models import Notification, Webhook, WebhookAttempt, WebhookDelivery
from portal.events import emit
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.personas import BOB


def bob_hook(receiver) -> Webhook:
    hook, secret = services.webhook_create(owner=user_of(BOB), url=receiver.url)
    receiver.secret = secret
    return hook


def payout():
    with transaction.atomic():
        return emit(kind="payout.received", subject="epoch:1", payload={"title": "5 LAZ"}, recipients=[user_of(BOB)])


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    header = webhooks.sign("sec", 1700000000, b'{"a":1}')
    expected = hmac.new(b"sec", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhooks.verify("sec", header, b'{"a":1}', now=1700000010)
    assert not webhooks.verify("other", header, b'{"a":1}', now=1700000010)
    assert not webhooks.verify("sec", header, b'{"a":2}', now=1700000010)
    assert not webhooks.verify("sec", header, b'{"a":1}', now=1700009999)  # replayed too late


@pytest.mark.django_db(transaction=True)
def test_a_webhook_failing_twice_then_succeeding_is_delivered_once_with_three_attempts_logged(
    worker, receiver, private_targets
):
    hook = bob_hook(receiver)
    receiver.script = [500, 503]
    event = payout()
    wait_for(lambda: WebhookDelivery.objects.filter(webhook=hook, status="succeeded").exists())
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.event_id == event.pk and delivery.attempts == 3
    log = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code"))
    assert log == [(1, 500), (2, 503), (3, 200)]
    assert all(a.latency_ms >= 0 for a in WebhookAttempt.objects.all())
    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    assert all(r["verified"] for r in receiver.requests)
    body = json.loads(receiver.requests[-1]["body"])
    assert body["kind"] == "payout.received" and body["id"] == event.pk and body["payload"]["title"] == "5 LAZ"
    hook.refresh_from_db()
    assert hook.active and hook.consecutive_failures == 0


@pytest.mark.django_db(transaction=True)
def test_a_webhook_that_always_fails_is_disabled_and_its_owner_told(worker, receiver, private_targets):
    private_targets.NOTIFICATIONS_WEBHOOK_DISABLE_AFTER = 3
    private_targets.NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = 5
    hook = bob_hook(receiver)
    receiver.default = 500
    payout()
    wait_for(lambda: WebhookDelivery.objects.filter(webhook=hook, status="failed").exists())
    hook.refresh_from_db()
    assert not hook.active and hook.disabled_at is not None
    assert WebhookAttempt.objects.filter(delivery__webhook=hook).count() == 3
    wait_for(lambda: Notification.objects.filter(recipient=user_of(BOB), event__kind="webhook.disabled").exists())
    # the disabled hook receives nothing more
    payout()
    wait_for(lambda: Notification.objects.filter(recipient=user_of(BOB), event__kind="payout.received").count() == 2)
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_send_test_event_reaches_only_that_webhook(worker, receiver, private_targets):
    hook = bob_hook(receiver)
    services.webhook_send_test(owner=user_of(BOB), webhook_id=hook.pk)
    wait_for(lambda: receiver.requests)
    assert receiver.kinds() == ["webhook.test"] and receiver.requests[0]["verified"]
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://0.0.0.0/hook",
        "ftp://example.org/hook",
        "http://user:pw@example.org/hook",
    ],
)
@pytest.mark.django_db
def test_webhook_urls_to_private_addresses_are_refused_by_default(url):
    with pytest.raises(webhooks.WebhookUrlRefused):
        services.webhook_create(owner=user_of(BOB), url=url)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254"])
@pytest.mark.django_db(transaction=True)
def test_delivery_refuses_private_addresses_after_resolution_even_when_saved_earlier(worker, receiver, settings, host):
    """A hook saved while allowed (or whose name later resolves privately) is checked again at delivery."""
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = False
    port = receiver.url.split(":")[2].split("/")[0]
    hook = Webhook.objects.create(owner=user_of(BOB), url=f"http://{host}:{port}/hook", secret="s")
    payout()
    wait_for(lambda: WebhookDelivery.objects.filter(webhook=hook, status="failed").exists())
    (attempt,) = WebhookAttempt.objects.filter(delivery__webhook=hook)
    assert attempt.status_code is None and attempt.error.startswith("refused:")
    assert receiver.requests == []  # nothing was sent


def test_resolution_pins_the_checked_address(settings):
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = True
    assert webhooks.resolve("localhost", 80) in ("127.0.0.1", "::1")
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.WebhookUrlRefused):
        webhooks.resolve("localhost", 80)
