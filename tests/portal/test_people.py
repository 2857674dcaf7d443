"""People, not hex: a display name their owner sets (profile page form or POST /auth/me) shown by
`{% person %}` wherever a page names them, with an identicon drawn from the address; names are
filled in with one query per page; the demo people have theirs; profiles carry the contributions,
DATs and validator record panels their apps register."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import demo
from portal.models import User
from portal.people import fill_names, identicon_svg, name_marker
from quorums.models import Validator
from tests.dats.factories import make_contribution, make_idao, minted
from tests.factories import user_of
from tests.idaos.conftest import make_idao as make_voting_idao
from tests.idaos.conftest import make_proposal
from tests.idaos.test_delegation_resolution import vote
from tests.personas import ALICE, BOB, CAROL
from tests.quorums.factories import QuorumFactory

pytestmark = pytest.mark.django_db


def name_of(p) -> str:
    return User.objects.get(address=p.address).display_name


def test_owner_sets_a_display_name_on_their_profile_and_pages_show_it(signed_in):
    proposal = make_proposal(make_voting_idao(members=[BOB]), title="Learn from the CT scans")
    vote(BOB, proposal, "for")
    client = signed_in(BOB)
    response = client.post(f"/people/{BOB.address}/name", {"display_name": "  Bob   the Radiologist "})
    assert response.status_code == 302
    assert name_of(BOB) == "Bob the Radiologist"
    body = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert "Bob the Radiologist" in body and f'title="{BOB.address}"' in body
    assert '<svg class="identicon"' in body and "<!--pn:" not in body
    profile = client.get(f"/people/{BOB.address}/").content.decode()
    assert 'data-testid="display-name-input"' in profile and "Bob the Radiologist" in profile


def test_nobody_changes_someone_elses_display_name(signed_in, client):
    user_of(BOB)
    assert signed_in(CAROL).post(f"/people/{BOB.address}/name", {"display_name": "Mallory"}).status_code == 403
    assert client.post(f"/people/{BOB.address}/name", {"display_name": "Mallory"}).status_code in (302, 403)
    assert name_of(BOB) == ""
    assert 'data-testid="display-name-input"' not in signed_in(CAROL).get(f"/people/{BOB.address}/").content.decode()


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [("x" * 81, 422, "invalid_input"), ("Bob\x00", 400, "invalid_text"), ("0xB0b", 422, "invalid_input")],
)
def test_a_bad_display_name_is_refused_with_its_code_and_nothing_changes(signed_in, name, status, code):
    client = signed_in(BOB)
    response = client.post("/auth/me", json.dumps({"display_name": name}), content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert name_of(BOB) == ""
    client.post(f"/people/{BOB.address}/name", {"display_name": name})
    assert name_of(BOB) == ""


def test_the_api_sets_and_clears_your_display_name(signed_in):
    client = signed_in(ALICE)
    response = client.post("/auth/me", json.dumps({"display_name": "Alice"}), content_type="application/json")
    assert response.status_code == 200 and response.json()["display_name"] == "Alice"
    assert client.get("/auth/me").json()["display_name"] == "Alice"
    client.post("/auth/me", json.dumps({"display_name": ""}), content_type="application/json")
    assert name_of(ALICE) == ""


def test_identicon_is_the_same_svg_for_an_address_and_differs_between_addresses():
    assert identicon_svg(ALICE.address) == identicon_svg(ALICE.address.lower())
    assert identicon_svg(ALICE.address) != identicon_svg(BOB.address)
    assert identicon_svg(ALICE.address).startswith('<svg class="identicon"') and "script" not in identicon_svg(
        BOB.address
    )


def test_names_on_a_page_cost_one_query_whatever_the_number_of_people():
    people = [ALICE, BOB, CAROL]
    for p in people:
        User.objects.filter(pk=user_of(p).pk).update(display_name=f"<b>{p.address[2:6]}</b>")
    html = "".join(name_marker(p.address, "short") for p in people) + name_marker("0x" + "0" * 40, "nobody")
    with CaptureQueriesContext(connection) as ctx:
        filled = fill_names(html)
    assert len(ctx.captured_queries) == 1
    assert filled.count("&lt;b&gt;") == 3 and filled.endswith("nobody")  # escaped, and unnamed keep the fallback
    with CaptureQueriesContext(connection) as ctx:
        assert fill_names("<p>no people</p>") == "<p>no people</p>"
    assert len(ctx.captured_queries) == 0


def test_demo_people_have_display_names():
    User.objects.create_user(demo.demo_account("bob").address)  # signed in before the demo was loaded
    demo.load(io.StringIO())
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert User.objects.get(address=demo.demo_account(name).address).display_name == name.title()


def test_profile_shows_contributions_dats_and_validator_record(client, django_assert_max_num_queries):
    idao = make_idao(BOB)
    dat = minted(idao, BOB, title="Radiology notes")
    make_contribution(idao, BOB, title="Pending scans")
    Validator.objects.create(quorum=QuorumFactory(name="Imaging"), user=user_of(BOB), address=BOB.address, stake=500)
    with django_assert_max_num_queries(30):
        body = client.get(f"/people/{BOB.address}/").content.decode()
    assert 'id="contributions"' in body and "Pending scans" in body
    assert 'id="dats"' in body and f"#{dat.pk} Radiology notes" in body
    assert 'id="validator"' in body and "Imaging" in body
    quiet = client.get(f"/people/{user_of(CAROL).address}/").content.decode()
    assert 'id="contributions"' not in quiet and 'id="dats"' not in quiet and 'id="validator"' not in quiet
