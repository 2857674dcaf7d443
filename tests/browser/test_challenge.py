"""Someone signs in on a DAT's page, reads what a challenge costs and what happens in each outcome,
and files one from "Challenge this DAT": the DAT is contested and its round's verdicts sealed."""

from __future__ import annotations

import pytest

from dats.models import Challenge
from tests.dats.test_challenges import BOND, _credit, _minted
from tests.personas import MALLORY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anyone_challenges_a_dat_from_its_page_and_it_becomes_contested(live_server, page, wallet):
    _idao, _ps, dat = _minted()
    _credit(MALLORY, BOND)
    wallet(page, MALLORY)
    page.goto(live_server.url + f"/dats/{dat.pk}/")
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    form = page.get_by_test_id("challenge-form")
    form.wait_for()
    text = page.get_by_test_id("challenge").inner_text()
    assert f"{BOND} CREDIT" in text and "revoked" in text and "treasury" in text and "more hour" in text
    page.get_by_test_id("challenge-reason").select_option("licence")
    page.get_by_test_id("challenge-evidence").fill("The source forbids commercial use (CC BY-NC).")
    page.get_by_test_id("challenge-submit").click()
    page.get_by_test_id("verdicts-sealed").wait_for()
    assert "contested" in page.get_by_test_id("dat-status").inner_text()
    assert "Challenged (licence)" in page.get_by_test_id("challenge").inner_text()
    challenge = Challenge.objects.get(dat=dat)
    assert challenge.evidence == "The source forbids commercial use (CC BY-NC)." and challenge.state == "open"
    assert challenge.panel_round.seats.count() == 7
    assert not page.errors
