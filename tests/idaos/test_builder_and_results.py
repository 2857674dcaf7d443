"""Proposals without hand-written JSON (the builder, its preview and warnings) and closed proposals
in plain words (the one-line reason, your vote kept, no "closes" wording, the page flipping)."""

from __future__ import annotations

import time

import pytest

from idaos.models import Proposal
from idaos.services import assets, ballots, proposals
from tests.dats.factories import make_idao as make_dat_idao
from tests.dats.factories import minted
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL, DAVE

pytestmark = pytest.mark.django_db
HASH = "0x" + "ab" * 32
URL = "/idaos/open-health/proposals/new"


def vote(p, proposal, choice, ago=0):
    body = ballot(p, proposal, choice, ts=int(time.time()) - ago)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def close(proposal) -> Proposal:
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    proposal.refresh_from_db()
    return proposal


@pytest.fixture
def world(db):
    idao = make_idao(members=[BOB])
    model = assets.aimodel_register(idao=idao, steward=user_of(ALICE), name="Triage", artifact_hash=HASH)
    own = minted(idao, BOB, title="Radiology notes")
    foreign = minted(make_dat_idao(CAROL, slug="law-commons"), CAROL, title="Court records")
    return idao, model, own, foreign


def test_propose_data_for_it_prefills_the_model_and_the_builder_offers_lists(signed_in, world):
    _idao, model, _own, _foreign = world
    page = signed_in(BOB).get(f"{URL}?kind=include_data&model={model.pk}").content.decode()
    assert f'<option value="{model.pk}" selected>Triage</option>' in page
    assert 'data-testid="dat-picker"' in page and "Details: the raw payload (JSON)" in page
    fragment = signed_in(BOB).get(URL, {"kind": "change_charter"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="builder"') and "Quorum, % of eligible power" in fragment


def test_the_preview_says_what_changes_and_warns_about_another_idaos_data_then_creates(signed_in, world):
    _idao, model, own, foreign = world
    form = {
        "kind": "include_data",
        "title": "Learn",
        "model": model.pk,
        "dats": [own.pk, foreign.pk],
        "submit_now": "on",
    }
    client = signed_in(BOB)
    page = client.post(URL, {**form, "preview": "1"}).content.decode()
    assert (
        f"Model “Triage” (version 1) will learn from DAT #{own.pk} “Radiology notes”, DAT #{foreign.pk} “Court records”;"
        " 0 items already in its manifest." in page
    )
    assert f"DAT #{foreign.pk} “Court records” comes from another iDAO (Law-Commons)." in page
    assert not Proposal.objects.exists()  # a preview writes nothing
    assert f'value="{own.pk}" checked' in page  # the picked DATs stay picked
    created = client.post(URL, form)
    p = Proposal.objects.get()
    assert created.status_code == 302 and p.payload == {
        "model_id": model.pk,
        "data_refs": [f"dat:{own.pk}", f"dat:{foreign.pk}"],
    }
    detail = client.get(f"/proposals/{p.pk}").content.decode()
    assert "&quot;data_refs&quot;: [" in detail and "{&#x27;" not in detail  # JSON, not a Python dict


def test_the_builder_names_what_is_missing(signed_in, world):
    page = signed_in(BOB).post(URL, {"kind": "include_data", "title": "Learn"}).content.decode()
    assert "Choose the model." in page and "Pick at least one DAT." in page
    assert not Proposal.objects.exists()


def test_a_closed_proposal_says_why_in_one_line_keeps_your_vote_and_no_closes_wording(signed_in):
    idao = make_idao(members=[BOB, CAROL, DAVE], quorum_bps=2000, approval_threshold_bps=5000)
    p = make_proposal(idao)
    vote(ALICE, p, "for")
    vote(BOB, p, "for")
    vote(CAROL, p, "against")
    bob = signed_in(BOB)
    live = bob.get(f"/proposals/{p.pk}").content.decode()
    assert "Voting closes" in live and 'data-testid="my-choice">for<' in live
    vote(BOB, p, "against", ago=-1)  # a changed vote: the tally fragment says so
    fragment = bob.get(f"/proposals/{p.pk}?partial=tally", HTTP_HX_REQUEST="true").content.decode()
    assert 'you voted <strong data-testid="my-choice">against<' in fragment
    vote(BOB, p, "for", ago=-2)
    close(p)
    assert p.state == "executed"
    page = bob.get(f"/proposals/{p.pk}").content.decode()
    assert "Passed and executed: 66.7% for, above 50%; quorum 75% of 20% needed." in page
    assert 'data-testid="my-choice">for<' in page
    assert "Voting closes" not in page and "Voting closed" in page and 'data-choice="for"' not in page


def test_a_page_left_open_past_the_deadline_flips_to_closed_on_its_next_refresh(signed_in):
    idao = make_idao(members=[BOB])
    p = make_proposal(idao)
    vote(BOB, p, "against")
    close(p)
    fragment = signed_in(BOB).get(f"/proposals/{p.pk}?partial=tally", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="proposal-state"' in fragment and 'hx-swap-oob="true"' in fragment
    assert '<section id="vote" hx-swap-oob="true"></section>' in fragment and "Rejected: 0% for, below" in fragment
    assert "hx-trigger" not in fragment.split("</section>")[0]  # the closed tally stops polling
    assert "Voting closed" in fragment
