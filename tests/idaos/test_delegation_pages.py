"""The delegation pages: a person's profile (statement, iDAOs, votes, delegations, the delegate
form), statement editing (page and API), the delegate directories per iDAO and per domain, "my
delegations", who voted on whose behalf on a proposal, and the delegate's receipt after overrides."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from idaos import delegation
from idaos.models import Ballot, DelegateStatement
from idaos.services import delegations
from tests.factories import user_of
from tests.idaos.conftest import make_proposal
from tests.idaos.test_delegation_resolution import delegate, staked_idao, vote
from tests.personas import ALICE, BOB, CAROL, DAVE

pytestmark = pytest.mark.django_db


def profile(p) -> str:
    return f"/people/{p.address}/"


def test_profile_shows_statement_idaos_votes_with_reasons_and_delegations(signed_in, django_assert_max_num_queries):
    idao = staked_idao(ALICE, BOB, CAROL)
    delegations.delegate_statement_set(user=user_of(BOB), text="Radiologist; I read every dataset card.")
    delegate(ALICE, [(BOB, 10000)])
    delegate(BOB, [(CAROL, 5000)], scope="global")
    proposal = make_proposal(idao, title="Add the CT scans")
    vote(BOB, proposal, "for")
    Ballot.objects.filter(voter=BOB.address).update(reason="The consent forms are in order.")
    client = signed_in(CAROL)
    with django_assert_max_num_queries(25):
        body = client.get(profile(BOB)).content.decode()
    assert "Radiologist; I read every dataset card." in body
    assert idao.name in body and "Add the CT scans" in body and "The consent forms are in order." in body
    assert f'title="{ALICE.address}"' in body  # delegated to Bob, address short with the full one in title
    assert f'title="{CAROL.address}"' in body  # Bob delegates to Carol
    assert "Delegate to this person" in body and f'value="{BOB.address}"' in body
    assert 'value="domain:healthcare" selected' in body and f'value="idao:{idao.slug}"' in body


def test_own_profile_offers_the_statement_form_and_no_delegate_form(signed_in):
    staked_idao(ALICE, BOB)
    body = signed_in(BOB).get(profile(BOB)).content.decode()
    assert 'name="text"' in body and "Delegate to this person" not in body


def test_profile_of_unknown_address_is_404_and_lowercase_redirects_to_eip55(client):
    user_of(BOB)
    assert client.get(profile(DAVE)).status_code == 404
    response = client.get(f"/people/{BOB.address.lower()}/")
    assert response.status_code == 302 and response["Location"] == profile(BOB)


def test_statement_is_published_from_the_profile_and_only_by_its_owner(signed_in):
    user_of(BOB)
    bob = signed_in(BOB)
    response = bob.post(f"/people/{BOB.address}/statement", {"text": "  I vote on healthcare.  "})
    assert response.status_code == 302
    assert DelegateStatement.objects.get(user__address=BOB.address).text == "I vote on healthcare."
    assert signed_in(CAROL).post(f"/people/{BOB.address}/statement", {"text": "hijack"}).status_code == 403
    assert DelegateStatement.objects.get(user__address=BOB.address).text == "I vote on healthcare."
    bob.post(f"/people/{BOB.address}/statement", {"text": "x" * 5001})
    refused = bob.post(f"/people/{BOB.address}/statement", {"text": "a\x00b"}, follow=True)
    assert "Null characters are not allowed" in refused.content.decode()
    assert DelegateStatement.objects.get(user__address=BOB.address).text == "I vote on healthcare."


def test_statement_api_sets_and_reads_and_refuses_bad_text(signed_in, client):
    bob = signed_in(BOB)
    url = "/api/v1/delegates/statement"
    ok = bob.post(url, {"text": "Law first."}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["text"] == "Law first."
    nul = bob.post(url, '{"text": "a\\u0000b"}', content_type="application/json")
    assert (nul.status_code, nul.json()["error"]) == (400, "invalid_text")
    long = bob.post(url, {"text": "x" * 5001}, content_type="application/json")
    assert (long.status_code, long.json()["error"]) == (422, "invalid_input")
    wrong = bob.post(url, {"text": 5}, content_type="application/json")
    assert (wrong.status_code, wrong.json()["error"]) == (422, "invalid_input")
    assert client.post(url, {"text": "anon"}, content_type="application/json").status_code in (401, 403)
    read = client.get(f"/api/v1/delegates/{BOB.address}/statement")
    assert read.status_code == 200 and read.json()["text"] == "Law first."
    assert client.get(f"/api/v1/delegates/{DAVE.address}/statement").status_code == 404


def test_idao_directory_counts_the_most_specific_delegation_participation_and_reasons(
    client, django_assert_max_num_queries
):
    idao = staked_idao(ALICE, BOB, CAROL, DAVE)
    delegations.delegate_statement_set(user=user_of(CAROL), text="Statistician.")
    delegate(ALICE, [(BOB, 10000)], scope="domain:healthcare")
    delegate(DAVE, [(BOB, 10000)], scope="global")
    delegate(DAVE, [(CAROL, 10000)], scope=f"idao:{idao.slug}")  # more specific than Dave's global one
    first = make_proposal(idao, title="One")
    make_proposal(idao, title="Two")
    vote(BOB, first, "against")
    Ballot.objects.filter(voter=BOB.address).update(reason="Not enough consent.")
    with django_assert_max_num_queries(12):
        response = client.get(f"/idaos/{idao.slug}/delegates")
    body = response.content.decode()
    assert response.status_code == 200
    rows = body.split('data-testid="delegate-row"')[1:]
    bob_row = next(r for r in rows if BOB.address in r)
    carol_row = next(r for r in rows if CAROL.address in r)
    assert "<td>1 " in bob_row and "50% (1 of 2)" in bob_row and "Not enough consent." in bob_row
    assert "<td>1 " in carol_row and "Statistician." in carol_row and "0% (0 of 2)" in carol_row
    assert "<td>100</td>" in bob_row  # Alice's 100 delegated at the latest vote


def test_domain_directory_lists_domain_delegates_and_unknown_domain_is_404(client):
    staked_idao(ALICE, BOB)
    delegate(ALICE, [(BOB, 4000)], scope="domain:healthcare")
    body = client.get("/delegates/healthcare/").content.decode()
    assert BOB.address in body and "shares sum to 40%" in body
    assert BOB.address not in client.get("/delegates/law/").content.decode()
    assert client.get("/delegates/astrology/").status_code == 404


def test_my_delegations_lists_mine_with_revoke_and_those_delegated_to_me(signed_in):
    staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 6000), (CAROL, 4000)], scope="global")
    delegate(DAVE, [(ALICE, 10000)], scope="domain:law")
    body = signed_in(ALICE).get("/delegations/").content.decode()
    mine = body.split('data-testid="my-delegations"')[1].split("</table>")[0]
    assert BOB.address in mine and "60%" in mine and 'data-revoke-scope="global"' in mine
    to_me = body.split('data-testid="delegated-to-me"')[1].split("</table>")[0]
    assert DAVE.address in to_me and "domain:law" in to_me and "100%" in to_me
    assert Client().get("/delegations/").status_code == 302


def test_proposal_page_shows_who_voted_on_whose_behalf_and_the_receipt_after_an_override(
    client, django_assert_max_num_queries
):
    idao = staked_idao(ALICE, BOB, CAROL, DAVE)  # Alice 100, Bob 200, Carol 300, Dave 400
    delegate(ALICE, [(BOB, 10000)])
    delegate(DAVE, [(BOB, 5000)])
    proposal = make_proposal(idao)
    bob_ballot = vote(BOB, proposal, "for")
    with django_assert_max_num_queries(20):
        page = client.get(f"/proposals/{proposal.pk}").content.decode()
    cell = page.split('data-testid="behalf"')[1].split("</td>")[0]
    assert ALICE.address in cell and "(100)" in cell and DAVE.address in cell and "(200)" in cell
    receipt = client.get(f"/ballots/{bob_ballot.pk}").content.decode()
    assert "<strong>500</strong>" in receipt  # own 200 + Alice 100 + Dave 200

    vote(ALICE, proposal, "against")  # Alice's own ballot wins: her share leaves Bob
    receipt = client.get(f"/ballots/{bob_ballot.pk}").content.decode()
    left = receipt.split('data-testid="receipt-left"')[1].split("</td>")[0]
    assert ALICE.address in left and "(100)" in left and "voted directly" in left
    assert "<strong>400</strong>" in receipt
    page = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert "(100) left: voted directly" in page


def test_behalf_agrees_with_the_tally_rule_along_chains():
    weights = {"a": 5, "b": 7, "c": 11, "d": 13}
    flows = delegation.resolve(weights=weights, delegations=[("a", [("b", 10000)]), ("b", [("c", 6000)])]).flows
    for voted in ({"c"}, {"b", "c"}, {"a", "c"}, {"a", "b", "c", "d"}, {"b"}):
        counted = delegation.counted_weights(weights=weights, flows=flows, voted=voted)
        carried: dict[str, int] = {}
        for holder, entries in delegation.behalf(flows=flows, voted=voted).items():
            carried[holder] = sum(amount for _, amount, first in entries if first == holder)
        assert {v: weights[v] + carried.get(v, 0) for v in voted} == counted


def test_proposal_page_costs_the_same_queries_with_delegations_as_without(client):
    plain_idao = staked_idao(ALICE, BOB, CAROL, DAVE)
    plain = make_proposal(plain_idao)
    delegated_idao = staked_idao(ALICE, BOB, CAROL, DAVE, slug="other-health")
    delegate(ALICE, [(BOB, 10000)], scope=f"idao:{delegated_idao.slug}")
    delegate(DAVE, [(ALICE, 5000), (CAROL, 5000)], scope=f"idao:{delegated_idao.slug}")
    delegated = make_proposal(delegated_idao)
    counts = []
    for proposal in (plain, delegated):
        for p, choice in ((BOB, "for"), (CAROL, "against")):
            vote(p, proposal, choice)
        client.get(f"/proposals/{proposal.pk}")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/proposals/{proposal.pk}").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_receipts_along_a_chain_show_the_intermediate_delegate_carrying_the_flow(client):
    idao = staked_idao(ALICE, BOB, CAROL)  # Alice 100, Bob 200, Carol 300
    delegate(ALICE, [(BOB, 10000)])
    delegate(BOB, [(CAROL, 10000)])  # Alice's weight travels Alice → Bob → Carol
    proposal = make_proposal(idao)
    carol_ballot = vote(CAROL, proposal, "for")
    assert "<strong>600</strong>" in client.get(f"/ballots/{carol_ballot.pk}").content.decode()
    bob_ballot = vote(BOB, proposal, "against")  # Bob votes: his own weight and Alice's stop at him
    bob = client.get(f"/ballots/{bob_ballot.pk}").content.decode()
    assert "<strong>300</strong>" in bob and ALICE.address in bob.split('data-testid="receipt-carried"')[1]
    carol = client.get(f"/ballots/{carol_ballot.pk}").content.decode()
    left = carol.split('data-testid="receipt-left"')[1].split("</td>")[0]
    assert "their delegate" in left and BOB.address in left and ALICE.address in left
    assert "<strong>300</strong>" in carol


def test_proposal_page_offers_delegating_in_this_idao_to_a_signed_in_member(signed_in, client):
    idao = staked_idao(ALICE, BOB)
    proposal = make_proposal(idao)
    body = signed_in(BOB).get(f"/proposals/{proposal.pk}").content.decode()
    form = body.split("data-delegate ")[1].split("</form>")[0]
    assert f'data-delegator="{BOB.address}"' in form and 'name="delegate"' in form
    assert f'value="idao:{idao.slug}" selected' in form
    assert f"/idaos/{idao.slug}/delegates" in body
    assert "data-delegate " not in client.get(f"/proposals/{proposal.pk}").content.decode()


def test_the_embedded_defaults_plain_reads_find_the_same_flows_as_the_postgresql_query(monkeypatch):
    """behalf_of's SQLite path (no arrays, no jsonb operators) answers what the indexed query does."""
    from idaos import delegate_selectors

    idao = staked_idao(ALICE, BOB, CAROL, DAVE)
    delegate(ALICE, [(BOB, 10000)])
    delegate(BOB, [(CAROL, 10000)])
    delegate(DAVE, [(ALICE, 5000), (CAROL, 5000)])
    proposal = make_proposal(idao)
    vote(CAROL, proposal, "for")
    vote(BOB, proposal, "against")

    def answer(voters):
        return sorted(
            (json.dumps(flow, sort_keys=True), sorted(path))
            for flow, path in delegate_selectors._flows_through(proposal, voters)
        )

    for voters in ([CAROL.address], [BOB.address], [BOB.address, CAROL.address], [ALICE.address]):
        on_postgresql = answer(voters)
        monkeypatch.setattr(connection, "vendor", "sqlite")
        assert answer(voters) == on_postgresql
        monkeypatch.undo()
    assert answer([CAROL.address, BOB.address])  # the chain's flows are found at all
