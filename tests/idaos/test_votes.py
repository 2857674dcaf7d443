"""Signed ballots through POST /api/v1/proposals/{id}/votes: acceptance, replacement and every refusal."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from idaos.models import Ballot
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of, vote_url
from tests.personas import ALICE, BOB, CAROL, MALLORY

pytestmark = pytest.mark.django_db


def post(client, proposal, body):
    return client.post(vote_url(proposal), json.dumps(body), content_type="application/json")


@pytest.fixture
def setup(signed_in):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    return idao, proposal, signed_in(BOB)


def test_member_vote_is_counted_and_receipt_kept(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, "for", reason="good data"))
    assert response.status_code == 201, response.content
    data = response.json()
    tally = Client().get(f"/api/v1/proposals/{proposal.pk}").json()["tally"]
    assert tally["for"] == "1" and tally["voters"] == 1
    assert data["ballot"]["voter"] == BOB.address and data["ballot"]["counted"] is True
    assert Client().get(f"/ballots/{data['ballot']['id']}").status_code == 200


def test_later_ballot_replaces_earlier_and_older_is_superseded(setup):
    _, proposal, bob = setup
    now = int(time.time())
    assert post(bob, proposal, ballot(BOB, proposal, "for", ts=now + 1)).status_code == 201
    assert post(bob, proposal, ballot(BOB, proposal, "against", ts=now + 2)).status_code == 201
    older = post(bob, proposal, ballot(BOB, proposal, "abstain", ts=now + 1))
    assert older.status_code == 409 and older.json()["error"] == "superseded"
    counted = Ballot.objects.get(proposal=proposal, counted=True)
    assert counted.choice == "against"
    assert Ballot.objects.filter(proposal=proposal).count() == 2


def test_byte_identical_ballot_twice_is_duplicate_and_writes_nothing(setup):
    _, proposal, bob = setup
    body = ballot(BOB, proposal, "for")
    assert post(bob, proposal, body).status_code == 201
    again = post(bob, proposal, body)
    assert again.status_code == 409 and again.json()["error"] == "duplicate_ballot"
    assert Ballot.objects.filter(proposal=proposal).count() == 1


def test_not_signed_in_is_refused(setup):
    _, proposal, _ = setup
    response = post(Client(), proposal, ballot(BOB, proposal))
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


def test_non_member_is_refused(setup, signed_in):
    _, proposal, _ = setup
    response = post(signed_in(MALLORY), proposal, ballot(MALLORY, proposal))
    assert response.status_code == 403 and response.json()["error"] == "not_member"


def test_member_who_joined_after_activation_cannot_vote(setup, signed_in):
    idao, proposal, _ = setup
    from idaos.services.membership import membership_join

    membership_join(idao=idao, user=user_of(CAROL))
    response = post(signed_in(CAROL), proposal, ballot(CAROL, proposal))
    assert response.status_code == 403 and response.json()["error"] == "not_eligible"


def test_foreign_signature_is_refused(setup):
    _, proposal, bob = setup
    body = ballot(BOB, proposal)
    body["signature"] = ballot(MALLORY, proposal, voter=BOB.address)["signature"]  # mallory signs bob's ballot
    response = post(bob, proposal, body)
    assert response.status_code == 422 and response.json()["error"] == "bad_signature"


def test_garbage_signature_is_refused(setup):
    _, proposal, bob = setup
    body = ballot(BOB, proposal)
    body["signature"] = "0x" + "00" * 65
    response = post(bob, proposal, body)
    assert response.status_code == 422 and response.json()["error"] == "bad_signature"


def test_ballot_submitted_by_someone_else_session_is_refused(setup, signed_in):
    _, proposal, _ = setup
    response = post(signed_in(ALICE), proposal, ballot(BOB, proposal))
    assert response.status_code == 403 and response.json()["error"] == "not_your_ballot"


def test_wrong_chain_id_is_refused(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, chain_id=11155111))
    assert response.status_code == 422 and response.json()["error"] == "wrong_chain_id"


def test_declared_wrong_domain_name_or_version_is_refused(setup):
    _, proposal, bob = setup
    for bad in (
        {"name": "iDAO Portal!", "version": "1", "chainId": 1},
        {"name": "iDAO Portal", "version": "2", "chainId": 1},
    ):
        body = ballot(BOB, proposal)
        full = {
            "types": __import__("idaos.eip712").eip712.types(),
            "primaryType": "Ballot",
            "domain": bad,
            "message": body["message"],
        }
        body["signature"] = BOB.sign_typed(full)
        assert post(bob, proposal, body).json()["error"] == "bad_signature"  # undeclared: it just does not verify
        body["domain"] = bad
        response = post(bob, proposal, body)
        assert response.status_code == 422 and response.json()["error"] == "wrong_domain"


def test_extra_type_fields_are_refused(setup):
    _, proposal, bob = setup
    body = ballot(BOB, proposal)
    types = json.loads(json.dumps(__import__("idaos.eip712").eip712.types()))
    types["Ballot"].append({"name": "nonce", "type": "uint256"})
    body["types"] = types
    response = post(bob, proposal, body)
    assert response.status_code == 422 and response.json()["error"] == "wrong_types"
    body = ballot(BOB, proposal)
    body["message"]["nonce"] = 1
    response = post(bob, proposal, body)
    assert response.status_code == 422 and response.json()["error"] == "unexpected_fields"


def test_ballot_replayed_for_another_proposal_is_refused(setup):
    idao, proposal, bob = setup
    other = make_proposal(idao, title="Another")
    body = ballot(BOB, proposal)
    response = post(bob, other, body)
    assert response.status_code == 422 and response.json()["error"] == "wrong_proposal"


def test_ballot_for_another_idao_is_refused(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, idao="other-idao"))
    assert response.status_code == 422 and response.json()["error"] == "wrong_idao"


@pytest.mark.parametrize(
    "message_change",
    [{"choice": "maybe"}, {"timestamp": -1}, {"voter": "0x123"}, {"proposal": "seven"}, {"reason": 5}],
)
def test_malformed_ballot_is_refused(setup, message_change):
    _, proposal, bob = setup
    body = ballot(BOB, proposal)
    body["message"].update(message_change)
    response = post(bob, proposal, body)
    assert response.status_code == 422 and response.json()["error"] == "malformed_ballot"


def test_malformed_body_is_refused(setup):
    _, proposal, bob = setup
    for raw in ("not json", json.dumps({"message": "x", "signature": "0x"}), json.dumps([1, 2])):
        response = bob.post(vote_url(proposal), raw, content_type="application/json")
        assert response.status_code in (400, 422), response.content
        assert response.json()["error"] in ("invalid_input", "invalid_json", "malformed_ballot")


def test_a_body_that_is_not_an_object_is_a_malformed_ballot(setup):
    # VoteIn reads no field from it (as django-ninja's Schema did): the ballot rules name it.
    _, proposal, bob = setup
    for raw in ("[1, 2]", "[]", '"x"', "5", "null", "true"):
        response = bob.post(vote_url(proposal), raw, content_type="application/json")
        assert (response.status_code, response.json()["error"]) == (422, "malformed_ballot"), raw


def test_the_answer_is_the_declared_vote_out_with_the_receipt(setup):
    # The view renders its answer without django-ninja's validation: it must be VoteOut exactly
    # (same fields, same order, same values once validated) and the receipt's ballot.
    from idaos.schemas import VoteOut
    from idaos.selectors import ballot_dict

    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, "against", reason="not yet"))
    assert response.status_code == 201 and response["Content-Type"] == "application/json; charset=utf-8"
    data = response.json()
    assert VoteOut.model_validate(data).model_dump() == data
    assert list(data) == list(VoteOut.model_fields) and list(data["ballot"]) == list(
        VoteOut.model_fields["ballot"].annotation.model_fields
    )
    assert data["ballot"] == ballot_dict(Ballot.objects.get(pk=data["ballot"]["id"]))
    assert data["receipt_url"] == f"/ballots/{data['ballot']['id']}"
    # Byte for byte what django-ninja's renderer writes for the same answer (a reason with
    # non-ASCII text and quotes is escaped alike).
    from portal.api import api

    response = post(bob, proposal, ballot(BOB, proposal, "for", reason='später "yes"', ts=int(time.time()) + 1))
    assert response.status_code == 201
    assert response.content == api.renderer.render(None, response.json(), response_status=201).encode()


def test_timestamp_more_than_five_minutes_ahead_is_refused(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, ts=int(time.time()) + 330))
    assert response.status_code == 422 and response.json()["error"] == "timestamp_in_future"
    assert post(bob, proposal, ballot(BOB, proposal, ts=int(time.time()) + 200)).status_code == 201


def test_timestamp_before_the_window_is_refused(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, ts=int(proposal.voting_starts_at.timestamp()) - 10))
    assert response.status_code == 422 and response.json()["error"] == "timestamp_outside_window"


def test_vote_after_close_by_server_time_is_refused(setup):
    _, proposal, bob = setup
    from datetime import timedelta

    from idaos.models import Proposal

    Proposal.objects.filter(pk=proposal.pk).update(
        voting_starts_at=proposal.voting_starts_at - timedelta(hours=2),
        voting_ends_at=proposal.voting_starts_at - timedelta(hours=1),
    )
    response = post(bob, proposal, ballot(BOB, proposal, ts=int(proposal.voting_starts_at.timestamp()) - 7200 + 5))
    assert response.status_code == 409 and response.json()["error"] == "voting_closed"


def test_vote_before_voting_opens_is_refused(signed_in):
    idao = make_idao(members=[BOB], voting_delay=600)
    proposal = make_proposal(idao)
    response = post(signed_in(BOB), proposal, ballot(BOB, proposal))
    assert response.status_code == 409 and response.json()["error"] == "voting_not_open"


def test_reason_over_5000_characters_is_refused(setup):
    _, proposal, bob = setup
    response = post(bob, proposal, ballot(BOB, proposal, reason="x" * 5001))
    assert response.status_code == 422 and response.json()["error"] == "reason_too_long"
    assert post(bob, proposal, ballot(BOB, proposal, reason="x" * 5000)).status_code == 201


def test_body_over_100_kb_is_refused(setup):
    _, proposal, bob = setup
    body = ballot(BOB, proposal)
    body["padding"] = "x" * 110_000
    response = post(bob, proposal, body)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
