"""Bad input never yields a 500: every refusal is JSON with a code."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.idaos.conftest import ballot, make_idao, make_proposal
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

HUGE = 2**70


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "ü-nicode", "name": "x", "domain": "law"},
        {"slug": "ok-slug", "name": "x", "domain": "space"},
        {"slug": "ok-slug", "name": "", "domain": "law"},
        {"slug": "ok-slug", "name": "x", "domain": "law", "voting_period_seconds": HUGE},
        {"slug": "ok-slug", "name": "x", "domain": "law", "voting_period_seconds": 10},
        {"slug": "ok-slug", "name": "x", "domain": "law", "quorum_bps": 10001},
        {"slug": "ok-slug", "name": "x", "domain": "law", "proposal_min_stake": -1},
        {"slug": "ok-slug", "name": "x", "domain": "law", "voting_rule": "dictator"},
        {"slug": ["a"], "name": "x", "domain": "law"},
    ],
)
def test_bad_idao_input_is_refused_cleanly(signed_in, body):
    response = signed_in(ALICE).post("/api/v1/idaos", json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 409, 422), response.content
    assert "error" in response.json()


def test_bad_proposal_and_vote_ids_are_refused_cleanly(signed_in):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    bob = signed_in(BOB)
    assert Client().get(f"/api/v1/proposals/{HUGE}").status_code == 404
    assert Client().get("/api/v1/proposals/abc").status_code == 422
    body = ballot(BOB, proposal)
    body["message"]["proposal"] = HUGE
    response = bob.post(f"/api/v1/proposals/{HUGE}/votes", json.dumps(body), content_type="application/json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    for payload in (
        {"kind": "include_data", "title": "x", "payload": {"model_id": HUGE, "data_refs": ["0x" + "a" * 64]}},
        {"kind": "change_charter", "title": "x", "payload": {"changes": {"voting_period": HUGE}}},
        {"kind": "change_agent_policy", "title": "x", "payload": {"agent_id": True, "behaviour_policy": {}}},
        {"kind": "", "title": "x"},
        {"kind": "signal", "title": "x" * 201},
    ):
        response = bob.post("/api/v1/idaos/open-health/proposals", json.dumps(payload), content_type="application/json")
        assert response.status_code == 422, (payload, response.content)
    assert Client().get(f"/proposals/{HUGE}").status_code == 404
    assert Client().get(f"/ballots/{HUGE}").status_code == 404
    assert Client().get("/idaos/no-such-idao/").status_code == 404
