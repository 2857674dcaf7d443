"""The signed-in dashboard in headless Chromium: after a member votes on a proposal and uploads a
file, the home page shows the vote as cast and the upload as a contribution in flight."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE_TIMEOUT = 30_000  # ms; every assertion waits for its state, none sleeps


def test_dashboard_shows_the_vote_cast_and_the_upload_in_flight(live_server, page, wallet, tmp_path):
    idao = make_idao(members=[BOB])
    voted = make_proposal(idao, author=ALICE, title="Train on the cardiology set")
    waiting = make_proposal(idao, author=ALICE, title="Add the oncology notes")
    wallet(page, BOB)
    page.goto(f"{live_server.url}/proposals/{voted.pk}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)
    page.get_by_role("button", name="For", exact=True).click()
    expect(page.locator("[data-vote-status]").filter(has_text="is counted").first).to_be_visible(timeout=STATE_TIMEOUT)

    data = tmp_path / "readings.csv"
    data.write_bytes(b"t,value\n" + b"1,2\n" * 1000)
    page.goto(live_server.url + "/contributions/new")
    page.locator("[data-upload-form]").wait_for()
    page.fill("input[name=title]", "Cardiology readings")
    page.select_option("select[name=licence]", "CC-BY-4.0")
    page.set_input_files("input[name=file]", str(data))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-upload-status]")).to_contain_text("0x", timeout=STATE_TIMEOUT)

    page.goto(live_server.url + "/")
    proposals = page.get_by_test_id("dashboard-proposals")
    expect(proposals.get_by_test_id("dashboard-proposal").filter(has_text=voted.title)).to_contain_text(
        "you voted for", timeout=STATE_TIMEOUT
    )
    expect(proposals.get_by_test_id("dashboard-proposal").filter(has_text=waiting.title)).to_contain_text(
        "not voted yet"
    )
    expect(page.get_by_test_id("dashboard-contributions").get_by_test_id("dashboard-contribution")).to_contain_text(
        "Cardiology readings"
    )
