"""Voting in headless Chromium: a member signs in with the injected wallet, opens an active
proposal, clicks For, the wallet signs the EIP-712 ballot and the tally updates without a reload."""

from __future__ import annotations

import pytest

from idaos.models import Ballot
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_clicks_for_and_the_tally_updates_without_reload(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao, author=ALICE, title="Train on the cardiology set")
    requests = wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.get_by_test_id("signed-in-address").wait_for()
    assert page.get_by_test_id("tally-for").inner_text() == "0"
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("button", name="For", exact=True).click()
    page.locator("[data-vote-status]").filter(has_text="is counted").wait_for()
    page.wait_for_function("document.querySelector('[data-testid=tally-for]').textContent.trim() === '1'")

    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.get_by_test_id("voter-count").inner_text() == "1"
    typed = [params for method, params in requests if method == "eth_signTypedData_v4"]
    assert len(typed) == 1 and typed[0][0].lower() == BOB.address.lower()
    ballot = Ballot.objects.get(proposal=proposal)
    assert (ballot.voter, ballot.choice, ballot.counted) == (BOB.address, "for", True)
    page.locator("#voters").filter(has_text=BOB.address).wait_for()


def test_non_member_sees_no_vote_buttons(live_server, page, wallet):
    idao = make_idao()
    proposal = make_proposal(idao)
    wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.get_by_test_id("signed-in-address").wait_for()
    assert page.get_by_text("You cannot vote on this proposal").is_visible()
    assert page.get_by_role("button", name="For", exact=True).count() == 0
