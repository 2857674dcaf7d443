"""The ledger's rule for idempotency keys holds wherever rewards accepts one: the same key with the
same request answers as the first time; the same key with a different request is 409
`idempotency_key_reused`, and nothing is written or moved."""

from __future__ import annotations

from ledger import owners
from ledger import selectors as ledger_selectors
from rewards.models import CreditGrant, UsageEvent, UsageReport
from tests.personas import ALICE, BOB, CAROL

from .conftest import event, fund_credit
from .factories import MembershipFactory, user_of
from .test_metering import post, token_for

GRANTS = "/api/v1/rewards/idaos/alpha/credit-grants"


def grant(client, **body):
    return client.post(GRANTS, {"idempotency_key": "g-1", **body}, content_type="application/json")


def test_a_credit_grant_key_reused_for_another_amount_or_member_is_409(world, signed_in):
    MembershipFactory(idao=world.a, user=user_of(ALICE), role="steward")
    MembershipFactory(idao=world.a, user=user_of(BOB))
    MembershipFactory(idao=world.a, user=user_of(CAROL))
    fund_credit("idao:alpha", 1000)
    alice = signed_in(ALICE)
    first = grant(alice, member=BOB.address, amount=300, memo="GPU")
    assert first.status_code == 200
    again = grant(alice, member=BOB.address, amount=300, memo="GPU")
    assert (again.status_code, again.json()) == (200, first.json())
    for changed in ({"amount": 301}, {"member": CAROL.address}, {"memo": "TPU"}):
        refused = grant(alice, **{"member": BOB.address, "amount": 300, "memo": "GPU", **changed})
        assert refused.status_code == 409 and refused.json()["error"] == "idempotency_key_reused", changed
    assert CreditGrant.objects.count() == 1
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == 300
    assert ledger_selectors.balance(owners.user(CAROL.address), "CREDIT") == 0


def test_the_grant_form_reports_a_reused_key_and_moves_nothing(world, signed_in):
    MembershipFactory(idao=world.a, user=user_of(ALICE), role="steward")
    MembershipFactory(idao=world.a, user=user_of(BOB))
    fund_credit("idao:alpha", 1000)
    client = signed_in(ALICE)
    form = {"member": BOB.address, "amount": "300", "request_key": "form-1"}
    assert client.post("/earnings/idaos/alpha/credits", form).status_code == 302
    response = client.post("/earnings/idaos/alpha/credits", {**form, "amount": "900"}, follow=True)
    assert "already used for a grant of 300 CREDIT" in response.content.decode()
    assert ledger_selectors.balance("idao:alpha", "CREDIT") == 700


def test_a_usage_key_reused_for_a_different_event_is_409_and_records_nothing(world):
    raw = token_for(world.pipeline)
    first = event(world.model, 40, key="run-1")
    assert post(raw, first)[1]["accepted"] == 1
    status, body = post(raw, first)
    assert status == 200 and body["duplicates"] == 1
    reports = UsageReport.objects.count()
    for changed in ({"units": 41}, {"kind": "training"}, {"occurred_at": event(world.model, 1)["occurred_at"]}):
        fresh = event(world.model, 5, key="run-2")
        status, body = post(raw, {"events": [fresh, {**first, **changed}]})
        assert (status, body["error"]) == (409, "idempotency_key_reused"), changed
        assert body["detail"].startswith("events[1].idempotency_key")
    assert UsageReport.objects.count() == reports
    assert not UsageEvent.objects.filter(idempotency_key="run-2").exists()
    assert ledger_selectors.balance(owners.REWARD_POOL, "CREDIT") == 40


def test_one_key_for_two_different_events_in_one_batch_is_409(world):
    raw = token_for(world.pipeline)
    a, b = event(world.model, 1, key="same"), event(world.model, 2, key="same")
    status, body = post(raw, {"events": [a, b]})
    assert (status, body["error"]) == (409, "idempotency_key_reused")
    assert "events[0]" in body["detail"] and body["detail"].startswith("events[1]")
    status, body = post(raw, {"events": [a, dict(a)]})
    assert status == 200 and (body["accepted"], body["duplicates"]) == (1, 1)
