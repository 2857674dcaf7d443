"""Issue 17's acceptance in headless Chromium with the injected wallet: requesting DAT access and
downloading, declaring lineage with the picker, building an include_data proposal without JSON,
changing a vote, the closed-proposal reason appearing on an open page, the menu at 390px."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dats.models import AccessGrant, DeclaredLineage
from idaos.models import Ballot, Proposal
from idaos.services import assets, ballots, proposals
from ledger.selectors import balance
from tests.dats.factories import credit, make_contribution, minted, user_owner
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STATE_TIMEOUT = 30_000  # ms; every expect waits for its state, none sleeps
HASH = "0x" + "ab" * 32


def sign_in(page, live_server, wallet, who, path="/"):
    wallet(page, who)
    page.goto(live_server.url + path)
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)


def test_a_member_requests_access_to_a_dat_pays_from_credit_and_downloads_it(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    dat = minted(
        idao,
        BOB,
        title="Radiology notes",
        content=b"id,finding\n1,clear\n2,nodule\n",
        policy={"allowed_uses": ["training", "inference"], "price": 40, "quota": 5},
    )
    credit(user_owner(CAROL), 100)
    sign_in(page, live_server, wallet, CAROL, f"/dats/{dat.pk}/")
    page.get_by_test_id("access-link").click()
    expect(page.get_by_test_id("quota-left")).to_have_text("5 of 5 uses", timeout=STATE_TIMEOUT)
    page.get_by_test_id("access-use").select_option("inference")
    page.get_by_test_id("request-access").click()
    expect(page.get_by_test_id("grant")).to_contain_text("Granted for inference", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("credit-balance")).to_have_text("60 CREDIT")
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    body = Path(download.value.path()).read_bytes()
    assert "0x" + hashlib.sha256(body).hexdigest() == dat.sha256
    assert AccessGrant.objects.get().use == "inference" and balance(user_owner(CAROL), "CREDIT") == 60


def test_a_contributor_declares_lineage_with_the_picker_searching_as_they_type(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    parent = minted(idao, ALICE, title="Cardiology baseline")
    minted(idao, ALICE, title="Unrelated survey")
    contribution = make_contribution(idao, BOB, title="Derived cohort")
    sign_in(page, live_server, wallet, BOB, f"/contributions/{contribution.public_id}/parents")
    page.get_by_test_id("picker-search").fill("cardio")
    expect(page.get_by_test_id(f"pick-{parent.pk}")).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.locator(".picker-results")).not_to_contain_text("Unrelated survey", timeout=STATE_TIMEOUT)
    page.get_by_test_id(f"pick-{parent.pk}").check()
    page.get_by_test_id("declare-parents").click()
    expect(page.locator(".messages")).to_contain_text("Lineage declared", timeout=STATE_TIMEOUT)
    assert DeclaredLineage.objects.get(contribution=contribution).parent_ids == [parent.pk]


def test_a_member_builds_an_include_data_proposal_without_typing_json(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    model = assets.aimodel_register(idao=idao, steward=user_of(ALICE), name="Triage", artifact_hash=HASH)
    dat = minted(idao, ALICE, title="Radiology notes")
    sign_in(page, live_server, wallet, BOB, f"/idaos/{idao.slug}/")
    page.get_by_test_id(f"propose-data-{model.pk}").click()
    expect(page.get_by_test_id("model")).to_have_value(str(model.pk), timeout=STATE_TIMEOUT)
    page.get_by_role("textbox", name="Title").fill("Learn from the radiology notes")
    page.get_by_test_id("picker-search").fill("radio")
    page.get_by_test_id(f"pick-{dat.pk}").check(timeout=STATE_TIMEOUT)
    page.get_by_test_id("preview-button").click()
    expect(page.get_by_test_id("preview-sentence")).to_have_text(
        f"Model “Triage” (version 1) will learn from DAT #{dat.pk} “Radiology notes”; 0 items already in its manifest.",
        timeout=STATE_TIMEOUT,
    )
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("proposal-state")).to_have_text("Voting", timeout=STATE_TIMEOUT)
    assert Proposal.objects.get().payload == {"model_id": model.pk, "data_refs": [f"dat:{dat.pk}"]}


def test_changing_a_vote_shows_you_voted_against_with_the_tally(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao, title="Train on the cardiology set")
    sign_in(page, live_server, wallet, BOB, f"/proposals/{proposal.pk}")
    page.get_by_role("button", name="For", exact=True).click()
    expect(page.get_by_test_id("my-choice")).to_have_text("for", timeout=STATE_TIMEOUT)
    # Ballot timestamps are whole seconds: the changed ballot must be signed in a later second.
    first = Ballot.objects.get(proposal=proposal).timestamp
    while page.evaluate("Math.floor(Date.now() / 1000)") <= first:  # the page's clock reaches the next second
        page.evaluate("() => new Promise(r => requestAnimationFrame(r))")
    page.get_by_role("button", name="Against", exact=True).click()
    expect(page.get_by_test_id("my-vote")).to_contain_text("you voted against", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("tally-against")).to_have_text("1", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("tally-for")).to_have_text("0")


def test_an_open_proposal_page_flips_to_closed_with_its_reason(live_server, page, wallet):
    idao = make_idao(members=[BOB], quorum_bps=2000, approval_threshold_bps=5000)
    proposal = make_proposal(idao)
    for who, choice in ((ALICE, "for"), (BOB, "against")):
        body = ballot(who, proposal, choice, ts=int(time.time()))
        ballots.ballot_cast(
            proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(who)
        )
    sign_in(page, live_server, wallet, BOB, f"/proposals/{proposal.pk}")
    expect(page.get_by_test_id("voting-window")).to_contain_text("Voting closes", timeout=STATE_TIMEOUT)
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    expect(page.get_by_test_id("result")).to_have_text(
        "Passed and executed: 50% for, at 50%; quorum 100% of 20% needed.", timeout=STATE_TIMEOUT
    )
    expect(page.get_by_test_id("proposal-state")).to_have_text("Executed")
    expect(page.get_by_test_id("my-choice")).to_have_text("against")
    expect(page.get_by_test_id("voting-window")).to_contain_text("Voting closed")
    expect(page.get_by_role("button", name="For", exact=True)).to_have_count(0)


def test_the_header_folds_into_a_menu_at_390px(live_server, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_role("link", name="iDAOs", exact=True)).to_be_hidden()
    header_height = page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height")
    assert header_height < 844 / 8, header_height
    menu.click()
    expect(page.get_by_role("link", name="iDAOs", exact=True)).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="iDAOs", exact=True)).to_be_visible()
