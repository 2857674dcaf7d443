"""A member ranks a signal's options in the browser: the page's ballot module signs an
OptionBallot (EIP-712 type version 2) in the wallet and the ranking is counted."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from idaos.models import Ballot
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STATE_TIMEOUT = 30_000  # ms; every expect waits for its state, none sleeps


def test_member_ranks_the_options_and_the_browser_signs_an_option_ballot(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(
        idao, payload={"options": ["Ada", "Babbage", "Curie"], "method": "ranked"}, title="Name the model"
    )
    wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)
    page.get_by_label("Rank of Curie").select_option("1")
    page.get_by_label("Rank of Ada").select_option("2")
    page.get_by_role("button", name="Sign and vote").click()
    expect(page.locator("[data-vote-status]")).to_contain_text("is counted", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("my-choice")).to_have_text("ranked 1. Curie, 2. Ada", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("option-total-2")).to_have_text("1")
    ballot = Ballot.objects.get(proposal=proposal)
    assert (ballot.choice, ballot.message["options"]) == ("options", [2, 0])
