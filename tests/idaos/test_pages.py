"""Pages render for visitors and members, the stewards' page is theirs alone, exports carry signatures."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from idaos import eip712
from idaos.services import ballots
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def cast(p, proposal, choice="for"):
    body = ballot(p, proposal, choice)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def test_directory_search_and_domain_filter():
    make_idao(slug="open-health")
    make_idao(slug="law-commons")
    client = Client()
    page = client.get("/idaos/?q=health").content.decode()
    assert "Open Health" in page and "Law Commons" not in page
    assert "Open Health" not in client.get("/idaos/?domain=law").content.decode()
    fragment = client.get("/idaos/?q=law", headers={"HX-Request": "true"}).content.decode()
    assert "Law Commons" in fragment and "<html" not in fragment


def test_idao_page_and_proposal_pages_render(signed_in):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    cast(BOB, proposal)
    bob = signed_in(BOB)
    assert "Open Health" in bob.get(f"/idaos/{idao.slug}/").content.decode()
    assert "Let us learn" in bob.get(f"/idaos/{idao.slug}/proposals/").content.decode()
    page = bob.get(f"/proposals/{proposal.pk}").content.decode()
    assert 'data-choice="for"' in page and BOB.address in page and "you voted" in page
    tally = bob.get(f"/proposals/{proposal.pk}?partial=tally", headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="tally-for">1<' in tally and "<html" not in tally


def test_proposal_page_query_count_does_not_grow_with_ballots(signed_in, django_assert_max_num_queries):
    from tests.personas import many

    idao = make_idao(members=many(30))
    proposal = make_proposal(idao)
    client = Client()
    with django_assert_max_num_queries(8):
        client.get(f"/proposals/{proposal.pk}")
    for p in many(30):
        cast(p, proposal)
    with django_assert_max_num_queries(8):
        assert client.get(f"/proposals/{proposal.pk}").status_code == 200
    member = signed_in(many(30)[0])
    with django_assert_max_num_queries(12):
        assert b"you voted" in member.get(f"/proposals/{proposal.pk}").content


def test_members_page_is_for_stewards_and_approves_requests(signed_in):
    idao = make_idao(membership_policy="approval")
    bob = signed_in(BOB)
    bob.post(f"/idaos/{idao.slug}/join")
    assert bob.get(f"/idaos/{idao.slug}/members").status_code == 403
    alice = signed_in(ALICE)
    from idaos.models import Membership

    m = Membership.objects.get(idao=idao, user__address=BOB.address)
    assert m.status == "pending"
    alice.post(f"/idaos/{idao.slug}/members", {"membership": m.pk, "action": "approve"})
    m.refresh_from_db()
    assert m.status == "active"


def test_exports_carry_signatures_that_recover(signed_in):
    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    cast(BOB, proposal, "for")
    cast(CAROL, proposal, "against")
    data = Client().get(f"/proposals/{proposal.pk}/ballots.json").json()
    assert len(data["ballots"]) == 2
    for b in data["ballots"]:
        assert eip712.recover(b["message"], b["signature"]) == b["voter"]
    rows = list(csv.DictReader(io.StringIO(Client().get(f"/proposals/{proposal.pk}/ballots.csv").content.decode())))
    assert {r["voter"] for r in rows} == {BOB.address, CAROL.address} and all(
        r["signature"].startswith("0x") for r in rows
    )
    receipt = Client().get(f"/ballots/{data['ballots'][0]['id']}").content.decode()
    assert data["ballots"][0]["signature"] in receipt
    assert json.loads(Client().get("/governance/eip712.json").content)["domain"]["name"] == "iDAO Portal"


def test_steward_registers_model_via_page(signed_in):
    idao = make_idao()
    alice = signed_in(ALICE)
    response = alice.post(
        f"/idaos/{idao.slug}/models/new",
        {"name": "triage", "artifact_hash": "0x" + "ab" * 32, "manifest": "0x" + "cd" * 32},
    )
    assert response.status_code == 302
    assert idao.ai_models.get().current_version.manifest.count() == 1


def test_page_form_creates_proposal(signed_in):
    idao = make_idao()
    response = signed_in(ALICE).post(
        f"/idaos/{idao.slug}/proposals/new", {"kind": "signal", "title": "Hello", "payload": "{}", "submit_now": "on"}
    )
    assert response.status_code == 302
    assert idao.proposals.get().state == "active"
