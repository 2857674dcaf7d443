"""Signed, gasless delegations and revocations: acceptance, the receipt, and each refusal's code."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from idaos import eip712
from idaos.errors import DomainError
from idaos.models import Delegation
from idaos.services import delegations
from tests.idaos.conftest import make_idao
from tests.personas import ALICE, BOB, CAROL, DAVE

pytestmark = pytest.mark.django_db

DAY = 86400


def signed_delegation(p, shares, *, scope="domain:healthcare", nonce=0, expiry=None, chain_id=None, **over):
    message = {
        "delegator": p.address,
        "scope": scope,
        "shares": [{"delegate": d.address, "bps": bps} for d, bps in shares],
        "expiry": expiry if expiry is not None else int(time.time()) + 30 * DAY,
        "nonce": nonce,
    }
    message.update(over)
    return {"message": message, "signature": p.sign_typed(eip712.delegation_typed_data(message, chain_id=chain_id))}


def signed_revocation(p, *, scope="domain:healthcare", nonce=1, chain_id=None):
    message = {"delegator": p.address, "scope": scope, "nonce": nonce}
    return {"message": message, "signature": p.sign_typed(eip712.revocation_typed_data(message, chain_id=chain_id))}


def refused(code, fn, **kwargs):
    with pytest.raises(DomainError) as info:
        fn(**kwargs)
    assert info.value.code == code, info.value.detail
    return info.value


def test_signed_delegation_is_recorded_with_its_receipt_and_split_shares():
    body = signed_delegation(ALICE, [(BOB, 6000), (CAROL, 3000)])
    d = delegations.delegation_create(**body)
    assert (d.delegator, d.scope, d.nonce, d.verified_by) == (ALICE.address, "domain:healthcare", 0, "eoa")
    assert sorted((s.delegate, s.bps) for s in d.shares.all()) == sorted([(BOB.address, 6000), (CAROL.address, 3000)])
    assert d.message["shares"][0] == {"delegate": BOB.address, "bps": 6000}
    assert d.digest == "0x" + eip712.typed_digest(eip712.delegation_typed_data(d.message)).hex()
    assert delegations.delegation_nonce(delegator=ALICE.address) == 1


def test_newer_delegation_in_the_same_scope_ends_the_previous_one():
    first = delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 10000)]))
    second = delegations.delegation_create(**signed_delegation(ALICE, [(CAROL, 10000)], nonce=1))
    other = delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 10000)], scope="global", nonce=2))
    first.refresh_from_db()
    assert first.ended_at is not None and first.revocation_digest is None
    assert Delegation.objects.filter(ended_at=None).count() == 2
    assert {d.pk for d in Delegation.objects.filter(ended_at=None)} == {second.pk, other.pk}


def test_replayed_delegation_is_refused():
    body = signed_delegation(ALICE, [(BOB, 10000)])
    delegations.delegation_create(**body)
    refused("delegation_replayed", delegations.delegation_create, **body)


def test_wrong_nonce_is_refused():
    refused("wrong_nonce", delegations.delegation_create, **signed_delegation(ALICE, [(BOB, 10000)], nonce=3))
    delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 10000)], nonce=0))
    refused("wrong_nonce", delegations.delegation_create, **signed_delegation(ALICE, [(CAROL, 10000)], nonce=0))


def test_expired_delegation_is_refused():
    body = signed_delegation(ALICE, [(BOB, 10000)], expiry=int(time.time()) - 1)
    refused("delegation_expired", delegations.delegation_create, **body)


def test_expiry_beyond_the_maximum_is_refused(settings):
    settings.IDAOS_DELEGATION_MAX_DAYS = 10
    body = signed_delegation(ALICE, [(BOB, 10000)], expiry=int(time.time()) + 11 * DAY)
    refused("invalid_delegation", delegations.delegation_create, **body)


def test_wrong_domain_is_refused_both_declared_and_signed():
    body = signed_delegation(ALICE, [(BOB, 10000)])
    refused("wrong_domain", delegations.delegation_create, **body, domain={**eip712.domain(), "name": "Other"})
    other_chain = signed_delegation(ALICE, [(BOB, 10000)], chain_id=5)
    refused("bad_signature", delegations.delegation_create, **other_chain)


def test_signature_of_another_key_is_refused():
    body = signed_delegation(ALICE, [(BOB, 10000)])
    body["signature"] = DAVE.sign_typed(eip712.delegation_typed_data(body["message"]))
    refused("bad_signature", delegations.delegation_create, **body)


@pytest.mark.parametrize(
    ("shares", "scope", "code"),
    [
        ([(BOB, 6000), (CAROL, 5000)], "global", "invalid_delegation"),
        ([(ALICE, 100)], "global", "invalid_delegation"),
        ([(BOB, 100), (BOB, 100)], "global", "invalid_delegation"),
        ([(BOB, 0)], "global", "invalid_delegation"),
        ([], "global", "malformed_delegation"),
        ([(BOB, 100)], "domain:astrology", "invalid_delegation"),
        ([(BOB, 100)], "idao:no-such-idao", "invalid_delegation"),
    ],
)
def test_impossible_delegations_are_refused(shares, scope, code):
    refused(code, delegations.delegation_create, **signed_delegation(ALICE, shares, scope=scope))


def test_idao_scope_names_an_existing_idao():
    make_idao(slug="open-health")
    d = delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 2500)], scope="idao:open-health"))
    assert d.scope == "idao:open-health"


def test_malformed_messages_are_refused():
    body = signed_delegation(ALICE, [(BOB, 100)], extra=1)
    refused("malformed_delegation", delegations.delegation_create, **body)
    body = signed_delegation(ALICE, [(BOB, 100)])
    del body["message"]["nonce"]
    refused("malformed_delegation", delegations.delegation_create, **body)
    refused("malformed_delegation", delegations.delegation_create, message=[], signature="0x")


def test_signed_revocation_ends_the_delegation_and_is_kept():
    delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 10000)]))
    revoked = delegations.delegation_revoke(**signed_revocation(ALICE, nonce=1))
    assert revoked.ended_at is not None
    assert revoked.revocation_message == {"delegator": ALICE.address, "scope": "domain:healthcare", "nonce": 1}
    assert revoked.revocation_digest.startswith("0x")
    assert delegations.delegation_nonce(delegator=ALICE.address) == 2


def test_revocation_replayed_wrong_nonce_or_without_delegation_is_refused():
    refused("delegation_not_found", delegations.delegation_revoke, **signed_revocation(ALICE, nonce=0))
    delegations.delegation_create(**signed_delegation(ALICE, [(BOB, 10000)]))
    refused("wrong_nonce", delegations.delegation_revoke, **signed_revocation(ALICE, nonce=0))
    body = signed_revocation(ALICE, nonce=1)
    delegations.delegation_revoke(**body)
    refused("delegation_replayed", delegations.delegation_revoke, **body)


def test_delegation_submitted_by_another_user_is_refused():
    from tests.factories import user_of

    body = signed_delegation(ALICE, [(BOB, 10000)])
    refused("not_your_delegation", delegations.delegation_create, **body, user=user_of(BOB))


def test_eip712_json_publishes_the_delegation_types_beside_the_ballot_types():
    for url in ("/governance/eip712.json", "/api/v1/governance/eip712"):
        data = json.loads(Client().get(url).content)
        assert data["primaryType"] == "Ballot"
        assert data["delegation"]["delegation"]["types"]["Share"] == eip712.SHARE_TYPE
        assert data["delegation"]["revocation"]["primaryType"] == "Revocation"
        assert data["delegation"]["max_days"] == 180


def test_api_records_a_signed_delegation_lists_it_both_ways_and_revokes_it(signed_in):
    alice = signed_in(ALICE)
    nonce = json.loads(Client().get(f"/api/v1/delegations/nonce/{ALICE.address}").content)
    assert nonce == {"address": ALICE.address, "nonce": 0}
    body = signed_delegation(ALICE, [(BOB, 10000)])
    r = alice.post("/api/v1/delegations", json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["shares"] == [{"delegate": BOB.address, "bps": 10000}] and r.json()["live"]
    mine = Client().get(f"/api/v1/delegations/by/{ALICE.address}").json()["items"]
    assert [d["scope"] for d in mine] == ["domain:healthcare"]
    to_bob = Client().get(f"/api/v1/delegations/to/{BOB.address}").json()["items"]
    assert [d["delegator"] for d in to_bob] == [ALICE.address]
    again = alice.post("/api/v1/delegations", json.dumps(body), content_type="application/json")
    assert (again.status_code, again.json()["error"]) == (409, "delegation_replayed")
    revoke = signed_revocation(ALICE, nonce=1)
    r = alice.post("/api/v1/delegations/revocations", json.dumps(revoke), content_type="application/json")
    assert r.status_code == 200 and r.json()["revocation"]["message"]["nonce"] == 1
    assert Client().get(f"/api/v1/delegations/to/{BOB.address}").json()["items"] == []


def test_api_refuses_another_members_delegation_and_anonymous_callers(signed_in):
    body = signed_delegation(ALICE, [(BOB, 10000)])
    bob = signed_in(BOB)
    r = bob.post("/api/v1/delegations", json.dumps(body), content_type="application/json")
    assert (r.status_code, r.json()["error"]) == (403, "not_your_delegation")
    r = Client().post("/api/v1/delegations", json.dumps(body), content_type="application/json")
    assert r.status_code == 401
