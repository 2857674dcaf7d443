"""Concurrency, flooding and other hostile use of the sign-in endpoints, on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from portal.models import SiweNonce, User
from portal.siwe import MAX_LIVE_NONCES, nonce_purge
from tests.personas import ALICE
from tests.siwe_helpers import siwe_message


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_verifies_of_one_message_log_in_exactly_once():
    assert connection.vendor == "postgresql"
    issuer = Client()
    nonce = issuer.get("/auth/siwe/nonce").json()["nonce"]
    text = siwe_message(address=ALICE.address, nonce=nonce)
    signature = ALICE.sign_text(text)
    clients = []
    for _ in range(20):
        client = Client(enforce_csrf_checks=True)
        client.get("/auth/siwe/nonce")  # each gets its own CSRF cookie (and an unused nonce)
        clients.append(client)
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    errors: list[str] = []

    def attempt(client: Client) -> None:
        try:
            barrier.wait()
            response = client.post(
                "/auth/siwe/verify",
                {"message": text, "signature": signature},
                content_type="application/json",
                headers={"X-CSRFToken": client.cookies["csrftoken"].value},
            )
            statuses.append(response.status_code)
            if response.status_code != 200:
                errors.append(response.json()["error"])
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1
    assert errors == ["nonce_used"] * 19
    assert User.objects.count() == 1
    assert sum(1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id")) == 1


@pytest.mark.django_db
def test_a_thousand_nonce_requests_a_minute_get_429_and_the_table_stays_bounded(settings):
    client = Client()
    statuses = [client.get("/auth/siwe/nonce", REMOTE_ADDR="203.0.113.9").status_code for _ in range(1000)]
    limit = int(settings.SIWE_NONCE_RATE.split("/")[0])
    allowed = statuses.count(200)
    # A fixed one-minute window may roll over once during the run, allowing one more batch.
    assert limit <= allowed <= 2 * limit
    assert statuses.count(429) == 1000 - allowed
    assert SiweNonce.objects.count() == allowed
    other = client.get("/auth/siwe/nonce", REMOTE_ADDR="203.0.113.10")
    assert other.status_code == 200
    refused = client.get("/auth/siwe/nonce", REMOTE_ADDR="203.0.113.9")
    assert refused.json()["error"] == "rate_limited"


@pytest.mark.django_db
def test_expired_and_used_nonces_are_purged():
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    SiweNonce.objects.create(value="old1" * 5, expires_at=now - timedelta(seconds=1))
    SiweNonce.objects.create(
        value="used" * 5, expires_at=now + timedelta(minutes=5), used_at=now - timedelta(minutes=2)
    )
    SiweNonce.objects.create(value="live" * 5, expires_at=now + timedelta(minutes=5))
    assert nonce_purge(now=now) == 2
    assert list(SiweNonce.objects.values_list("value", flat=True)) == ["live" * 5]
    assert MAX_LIVE_NONCES >= 10_000


@pytest.mark.django_db
def test_oversized_verify_body_is_413_json(csrf_client):
    csrf_client.get("/auth/siwe/nonce")
    response = csrf_client.post(
        "/auth/siwe/verify",
        '{"message": "' + "a" * 200_000 + '", "signature": "0x"}',
        content_type="application/json",
        headers={"X-CSRFToken": csrf_client.cookies["csrftoken"].value},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.django_db
def test_verify_body_that_is_not_json_is_a_clear_error(csrf_client):
    csrf_client.get("/auth/siwe/nonce")
    response = csrf_client.post(
        "/auth/siwe/verify",
        "{not json",
        content_type="application/json",
        headers={"X-CSRFToken": csrf_client.cookies["csrftoken"].value},
    )
    assert response.status_code in (400, 422)
    assert response.json()["error"] in ("invalid_input", "invalid_json")


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sign_ins_of_one_address_create_one_user_and_both_succeed():
    clients, payloads = [], []
    for _ in range(8):
        client = Client(enforce_csrf_checks=True)
        nonce = client.get("/auth/siwe/nonce").json()["nonce"]
        text = siwe_message(address=ALICE.address, nonce=nonce)
        clients.append(client)
        payloads.append((text, ALICE.sign_text(text)))
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def attempt(client: Client, text: str, signature: str) -> None:
        try:
            barrier.wait()
            response = client.post(
                "/auth/siwe/verify",
                {"message": text, "signature": signature},
                content_type="application/json",
                headers={"X-CSRFToken": client.cookies["csrftoken"].value},
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(c, *p)) for c, p in zip(clients, payloads, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    assert User.objects.filter(address=ALICE.address).count() == 1


@pytest.mark.django_db
def test_issuing_a_nonce_purges_expired_ones_at_most_every_half_minute():
    from datetime import timedelta

    from django.utils import timezone

    stale = SiweNonce.objects.create(value="stale" * 4, expires_at=timezone.now() - timedelta(seconds=1))
    client = Client()
    assert client.get("/auth/siwe/nonce").status_code == 200
    assert not SiweNonce.objects.filter(pk=stale.pk).exists()
    later = SiweNonce.objects.create(value="later" * 4, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/auth/siwe/nonce").status_code == 200
    assert SiweNonce.objects.filter(pk=later.pk).exists()  # within the same half-minute: not scanned again
