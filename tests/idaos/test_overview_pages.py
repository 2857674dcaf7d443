"""Cross-iDAO pages: every iDAO's proposals with a state filter and a search (/proposals/), the
signed-in person's ballots across iDAOs (/votes/), and the directory's active votes, members and
treasury per iDAO (/idaos/), each at a query count that does not grow with its rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idaos.models import Proposal
from ledger import owners
from tests.dats.factories import credit
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_delegation_resolution import vote
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def test_proposals_across_idaos_filter_by_state_and_search(signed_in):
    health = make_idao(members=[BOB], slug="open-health")
    climate = make_idao(members=[BOB], slug="climate-data")
    a = make_proposal(health, title="Learn from the CT scans")
    b = make_proposal(climate, title="Add rainfall series")
    c = make_proposal(climate, title="Retire the old model")
    Proposal.objects.filter(pk=c.pk).update(state="passed")
    vote(BOB, a, "for")
    client = signed_in(BOB)
    body = client.get("/proposals/").content.decode()
    assert a.title in body and b.title in body and c.title not in body
    assert "Open Health" in body and "Climate Data" in body
    assert ">for<" in body  # your vote, beside the proposal you voted on
    body = client.get("/proposals/?state=passed").content.decode()
    assert c.title in body and a.title not in body
    body = client.get("/proposals/?state=all&q=climate").content.decode()
    assert b.title in body and c.title in body and a.title not in body
    body = client.get("/proposals/?q=rainfall", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="proposal-results"' in body and b.title in body and "<html" not in body
    assert client.get("/proposals/?state=bogus").status_code == 200  # unknown state: the open list


def test_my_votes_lists_each_counted_ballot_with_choice_weight_and_time(signed_in):
    health = make_idao(members=[BOB], slug="open-health")
    climate = make_idao(members=[BOB], slug="climate-data")
    a = make_proposal(health, title="Learn from the CT scans")
    b = make_proposal(climate, title="Add rainfall series")
    vote(BOB, a, "for")
    vote(BOB, b, "against")
    body = signed_in(BOB).get("/votes/").content.decode()
    assert a.title in body and b.title in body
    assert body.count('data-testid="my-vote-choice"') == 2
    assert body.index(b.title) < body.index(a.title)  # newest first
    assert "Against" in body and "For" in body
    assert "/ballots/" in body
    assert signed_in(CAROL).get("/votes/").content.decode().count("my-vote-choice") == 0


def test_my_votes_asks_visitors_to_sign_in(client):
    assert client.get("/votes/").status_code == 302


def test_directory_shows_active_votes_members_and_treasury_per_idao(client):
    health = make_idao(members=[BOB, CAROL], slug="open-health")
    make_idao(members=[], slug="quiet-place")
    make_proposal(health, title="One")
    make_proposal(health, title="Two")
    credit(owners.idao(health.slug), 1500)
    body = client.get("/idaos/").content.decode()
    health_card = body[body.index("Open Health") : body.index("Quiet Place")]
    assert "3 members" in health_card and "2 active votes" in health_card and "1,500 CREDIT" in health_card
    quiet_card = body[body.index("Quiet Place") :]
    assert "1 member" in quiet_card and "0 active votes" in quiet_card


def test_directory_and_proposal_list_cost_the_same_queries_with_more_idaos(client):
    def count(path: str) -> int:
        client.get(path)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    first = make_idao(members=[BOB], slug="first-one")
    make_proposal(first)
    before = (count("/idaos/"), count("/proposals/"))
    for i in range(4):
        idao = make_idao(founder=ALICE, members=[BOB, CAROL], slug=f"more-{i}")
        make_proposal(idao)
        credit(owners.idao(idao.slug), 10)
    assert (count("/idaos/"), count("/proposals/")) == before
