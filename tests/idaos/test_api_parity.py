"""What the pages do, the typed API does too: membership decisions, roles, leaving, registering
models and agents, reading an agent's policy versions, submitting and cancelling drafts."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from idaos.models import Agent, AgentVersion, Membership, Proposal
from idaos.services import actions
from idaos.services.assets import agent_register
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db
HASH = "0x" + "ab" * 32


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_stewards_decide_requests_and_roles_and_the_last_steward_stays_over_the_api(signed_in):
    make_idao(slug="closed-one", membership_policy="approval")
    bob = signed_in(BOB)
    request_id = post(bob, "/api/v1/idaos/closed-one/join").json()["id"]
    assert (
        post(bob, f"/api/v1/idaos/closed-one/memberships/{request_id}/decision", {"approve": True}).json()["error"]
        == "not_steward"
    )
    alice = signed_in(ALICE)
    pending = alice.get("/api/v1/idaos/closed-one/memberships?status=pending").json()["items"]
    assert [m["id"] for m in pending] == [request_id]
    decided = post(alice, f"/api/v1/idaos/closed-one/memberships/{request_id}/decision", {"approve": True})
    assert decided.status_code == 200 and decided.json()["status"] == "active"
    again = post(alice, f"/api/v1/idaos/closed-one/memberships/{request_id}/decision", {"approve": False})
    assert again.status_code == 409 and again.json()["error"] == "not_pending"
    own = Membership.objects.get(idao__slug="closed-one", user__address=ALICE.address).pk
    demote = post(alice, f"/api/v1/idaos/closed-one/memberships/{own}/role", {"role": "member"})
    assert demote.status_code == 409 and demote.json()["error"] == "last_steward"
    leave = post(alice, "/api/v1/idaos/closed-one/leave", {"confirm": True})
    assert leave.status_code == 409 and leave.json()["error"] == "last_steward"
    assert (
        post(alice, f"/api/v1/idaos/closed-one/memberships/{request_id}/role", {"role": "steward"}).json()["role"]
        == "steward"
    )
    assert post(alice, "/api/v1/idaos/closed-one/leave", {"confirm": True}).json()["status"] == "left"


def test_stewards_register_models_and_agents_and_anyone_reads_the_agent_policy_versions(signed_in):
    idao = make_idao(members=[BOB])
    assert (
        post(signed_in(BOB), "/api/v1/idaos/open-health/models", {"name": "M", "artifact_hash": HASH}).json()["error"]
        == "not_steward"
    )
    alice = signed_in(ALICE)
    model = post(alice, "/api/v1/idaos/open-health/models", {"name": "Triage", "artifact_hash": HASH})
    assert model.status_code == 201 and model.json()["current_version"] == 1
    bad = post(alice, "/api/v1/idaos/open-health/models", {"name": "Bad", "artifact_hash": "0x12"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    agent = post(
        alice,
        "/api/v1/idaos/open-health/agents",
        {"name": "Helper", "behaviour_policy": {"tone": "calm"}, "artifact_hash": HASH},
    )
    assert agent.status_code == 201, agent.content
    agent_id = agent.json()["id"]
    # A passed change_agent_policy proposal makes version 2; it keeps the running artifact.
    p = make_proposal(
        idao, kind="change_agent_policy", payload={"agent_id": agent_id, "behaviour_policy": {"tone": "brief"}}
    )
    actions.execute(Proposal.objects.get(pk=p.pk))
    assert AgentVersion.objects.get(agent_id=agent_id, number=2).artifact_hash == HASH
    read = Client().get(f"/api/v1/agents/{agent_id}").json()
    assert read["current_version"] == 2 and read["behaviour_policy"] == {"tone": "brief"}
    assert [(v["number"], v["approved_by_proposal"]) for v in read["versions"]] == [(2, p.pk), (1, None)]
    page = Client().get(f"/idaos/open-health/agents/{agent_id}/").content.decode()
    assert "Version 2" in page and "&quot;tone&quot;: &quot;brief&quot;" in page and f"proposal #{p.pk}" in page
    assert Client().get("/api/v1/agents/999999").json()["error"] == "agent_not_found"
    assert Agent.objects.count() == 1


def test_a_change_agent_policy_proposal_may_name_a_new_artifact():
    idao = make_idao()
    agent = agent_register(idao=idao, steward=user_of(ALICE), name="A", behaviour_policy={})
    new = "0x" + "cd" * 32
    p = make_proposal(
        idao,
        kind="change_agent_policy",
        payload={"agent_id": agent.pk, "behaviour_policy": {"x": 1}, "artifact_hash": new},
    )
    actions.execute(Proposal.objects.get(pk=p.pk))
    assert AgentVersion.objects.get(agent=agent, number=2).artifact_hash == new


def test_authors_submit_and_cancel_drafts_over_the_api(signed_in):
    make_idao(members=[BOB])
    bob = signed_in(BOB)
    draft = post(bob, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "Later", "submit": False})
    pid = draft.json()["id"]
    assert post(signed_in(CAROL), f"/api/v1/proposals/{pid}/submit").status_code == 404  # not visible to others
    submitted = post(bob, f"/api/v1/proposals/{pid}/submit")
    assert submitted.status_code == 200 and submitted.json()["state"] == "active"
    assert post(bob, f"/api/v1/proposals/{pid}/submit").json()["error"] == "not_draft"
    other = post(bob, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "Drop", "submit": False})
    cancelled = post(bob, f"/api/v1/proposals/{other.json()['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
