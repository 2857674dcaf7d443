"""A contributor signs in, opens the score breakdown of a rejected contribution (the round's score
and each validator's scores and reasons), and files an appeal from "Appeal this decision"."""

from __future__ import annotations

import pytest

from quorums.models import Appeal
from tests.personas import BOB
from tests.quorums.test_appeals import BOND, _credit, _rejected

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_contributor_sees_the_score_breakdown_and_files_an_appeal(live_server, page, wallet):
    _idao, _quorum, _ps, _c, r, _seated = _rejected()
    _credit(BOB, BOND)
    wallet(page, BOB)
    page.goto(live_server.url + "/contributions/mine")
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    breakdown = page.get_by_test_id("score-breakdown").first
    breakdown.wait_for()
    breakdown.locator("summary").click()
    rows = breakdown.get_by_test_id("validator-score")
    assert rows.count() == 3
    assert "20%" in rows.first.inner_text() and "pii" in rows.first.inner_text()  # ownership 2000 bps, its reason
    assert "20%" in breakdown.get_by_test_id("round-score").inner_text()
    form = page.get_by_test_id("appeal-form")
    assert f"{BOND} CREDIT" in form.inner_text() and "treasury" in form.inner_text()
    page.get_by_test_id("appeal-reason").fill("The e-mail addresses are synthetic test data.")
    page.get_by_test_id("appeal-submit").click()
    page.wait_for_url(f"**/rounds/{r.pk}/")
    assert page.get_by_test_id("appeal-state").inner_text() == "open"
    assert page.get_by_test_id("verdicts-sealed").is_visible()
    appeal = Appeal.objects.get(round=r)
    assert appeal.reason == "The e-mail addresses are synthetic test data." and appeal.appeal_round.seats.count() == 7
    assert not page.errors
