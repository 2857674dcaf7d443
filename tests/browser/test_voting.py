"""Voting in headless Chromium: a member signs in with the injected wallet, opens an active
proposal, clicks For, the wallet signs the EIP-712 ballot and the tally updates without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from idaos.models import Ballot
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every assertion on the page waits for the state it asserts (Playwright's expect retries until it
# holds), with room for a loaded machine; none reads the DOM once and none sleeps.
STATE_TIMEOUT = 30_000  # ms


def test_member_clicks_for_and_the_tally_updates_without_reload(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao, author=ALICE, title="Train on the cardiology set")
    requests = wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("tally-for")).to_have_text("0", timeout=STATE_TIMEOUT)
    page.evaluate("window.__sameDocument = true")

    page.get_by_role("button", name="For", exact=True).click()
    expect(page.locator("[data-vote-status]").filter(has_text="is counted").first).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("tally-for")).to_have_text("1", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("voter-count")).to_have_text("1", timeout=STATE_TIMEOUT)
    expect(page.locator(f'#voters [title="{BOB.address}"]')).to_be_visible(timeout=STATE_TIMEOUT)

    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    typed = [params for method, params in requests if method == "eth_signTypedData_v4"]
    assert len(typed) == 1 and typed[0][0].lower() == BOB.address.lower()
    ballot = Ballot.objects.get(proposal=proposal)
    assert (ballot.voter, ballot.choice, ballot.counted) == (BOB.address, "for", True)


def test_non_member_sees_no_vote_buttons(live_server, page, wallet):
    idao = make_idao()
    proposal = make_proposal(idao)
    wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_text("You cannot vote on this proposal")).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_role("button", name="For", exact=True)).to_have_count(0)
