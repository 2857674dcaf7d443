"""The iDAO and proposal endpoints: create, join, propose, read, and the spam limits."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from idaos.models import IDAO, Membership
from tests.idaos.conftest import make_idao
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_signed_in_user_forms_an_idao_and_becomes_steward(signed_in):
    alice = signed_in(ALICE)
    body = {
        "slug": "open-health",
        "name": "Open Health",
        "domain": "healthcare",
        "voting_rule": "quadratic",
        "voting_period_seconds": 86400,
        "quorum_bps": 1500,
    }
    response = post(alice, "/api/v1/idaos", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["treasury_owner"] == "idao:open-health" and data["charter"]["voting_rule"] == "quadratic"
    assert Membership.objects.get(idao__slug="open-health").role == "steward"
    assert post(alice, "/api/v1/idaos", body).json()["error"] == "slug_taken"
    listed = Client().get("/api/v1/idaos?q=health&domain=healthcare").json()["items"]
    assert [i["slug"] for i in listed] == ["open-health"] and listed[0]["member_count"] == 1


def test_creating_an_idao_requires_sign_in_and_valid_split(signed_in):
    assert post(Client(), "/api/v1/idaos", {"slug": "x-y", "name": "X", "domain": "law"}).status_code == 401
    bad = {
        "slug": "x-y",
        "name": "X",
        "domain": "law",
        "split_contributors_bps": 5000,
        "split_treasury_bps": 5000,
        "split_validators_bps": 1,
    }
    response = post(signed_in(ALICE), "/api/v1/idaos", bad)
    assert response.status_code == 422 and "10000" in response.json()["detail"]
    assert not IDAO.objects.exists()


def test_join_open_idao_and_request_approval_idao(signed_in):
    make_idao(slug="open-one")
    make_idao(slug="closed-one", membership_policy="approval")
    bob = signed_in(BOB)
    assert post(bob, "/api/v1/idaos/open-one/join", {}).json()["status"] == "active"
    assert post(bob, "/api/v1/idaos/open-one/join", {}).json()["error"] == "already_member"
    assert post(bob, "/api/v1/idaos/closed-one/join", {}).json()["status"] == "pending"
    assert post(bob, "/api/v1/idaos/closed-one/join", {}).json()["error"] == "already_requested"


def test_member_creates_and_reads_proposal_with_live_tally(signed_in):
    make_idao(members=[BOB])
    response = post(signed_in(BOB), "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "Hello"})
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    data = Client().get(f"/api/v1/proposals/{pid}").json()
    assert data["state"] == "active" and data["tally"]["voters"] == 0
    assert [p["id"] for p in Client().get("/api/v1/idaos/open-health/proposals").json()["items"]] == [pid]


def test_non_member_cannot_propose(signed_in):
    make_idao()
    response = post(signed_in(CAROL), "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "Hi"})
    assert response.status_code == 403 and response.json()["error"] == "not_member"


def test_malformed_proposal_payload_is_refused(signed_in):
    make_idao()
    response = post(
        signed_in(ALICE),
        "/api/v1/idaos/open-health/proposals",
        {"kind": "include_data", "title": "x", "payload": {"model_id": "one"}},
    )
    assert response.status_code == 422


@override_settings(IDAOS_MAX_ACTIVE_PROPOSALS_PER_AUTHOR=2)
def test_per_author_open_proposals_are_capped(signed_in):
    make_idao()
    alice = signed_in(ALICE)
    for i in range(2):
        assert (
            post(alice, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": f"p{i}"}).status_code == 201
        )
    response = post(alice, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "p3"})
    assert response.status_code == 429
    assert (
        response.json()["error"] == "active_proposal_limit"
        and "2 open proposals per author" in response.json()["detail"]
    )


@override_settings(IDAOS_MAX_DAILY_PROPOSALS_PER_IDAO=3)
def test_per_idao_daily_proposals_are_capped(signed_in):
    make_idao(members=[BOB, CAROL])
    clients = [signed_in(ALICE), signed_in(BOB), signed_in(CAROL)]
    for i, c in enumerate(clients):
        assert post(c, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": f"p{i}"}).status_code == 201
    response = post(clients[0], "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "more"})
    assert response.status_code == 429
    assert (
        response.json()["error"] == "daily_proposal_limit"
        and "3 proposals per iDAO in 24 hours" in response.json()["detail"]
    )


def test_proposal_threshold_min_membership_age(signed_in):
    make_idao(members=[BOB], proposal_min_membership_age=86400)
    response = post(signed_in(BOB), "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "early"})
    assert response.status_code == 403 and response.json()["error"] == "proposal_threshold"


def test_published_eip712_domain_and_types():
    data = Client().get("/governance/eip712.json").json()
    assert data["domain"] == {"name": "iDAO Portal", "version": "1", "chainId": 1}
    assert [f["name"] for f in data["types"]["Ballot"]] == [
        "voter",
        "idao",
        "proposal",
        "choice",
        "reason",
        "timestamp",
    ]
    assert data["primaryType"] == "Ballot"


def test_one_idao_reads_its_member_count_like_the_list():
    make_idao(members=[BOB, CAROL])
    listed = Client().get("/api/v1/idaos").json()["items"][0]["member_count"]
    one = Client().get("/api/v1/idaos/open-health").json()["member_count"]
    assert one == listed == 3
