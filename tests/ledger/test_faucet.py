"""The demo LAZ faucet: only with PORTAL_DEMO, through the ledger, once per user per UTC day."""

from __future__ import annotations

import pytest
from django.test import Client

from ledger import owners, selectors
from ledger.models import Transaction
from tests.personas import BOB

pytestmark = pytest.mark.django_db


def test_the_faucet_does_not_exist_unless_the_demo_is_on(signed_in, settings):
    settings.PORTAL_DEMO = False
    client = signed_in(BOB)
    assert client.get("/ledger/faucet").status_code == 404
    r = client.post("/api/v1/ledger/faucet")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert not Transaction.objects.exists()


def test_a_demo_user_draws_laz_once_a_day_through_the_ledger(signed_in, settings):
    settings.PORTAL_DEMO, settings.PORTAL_FAUCET_LAZ = True, 1_000
    assert Client().post("/api/v1/ledger/faucet").status_code == 401
    client = signed_in(BOB)
    r = client.post("/ledger/faucet", follow=True)
    assert "1,000 demo LAZ are yours" in r.content.decode()
    owner = owners.user(BOB.address)
    assert selectors.balance(owner, "LAZ") == 1_000
    again = client.post("/api/v1/ledger/faucet")
    assert again.status_code == 429 and again.json()["error"] == "rate_limited"
    assert selectors.balance(owner, "LAZ") == 1_000
    assert Transaction.objects.filter(kind="mint", memo="demo faucet").count() == 1
    assert 'href="/ledger/faucet"' in client.get(f"/ledger/accounts/{owner}").content.decode()
