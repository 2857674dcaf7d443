"""My earnings in headless Chromium: signed in with the test wallet, the page shows the payouts
and, with no reload, the earnings of the next epoch as soon as it closes (htmx refresh)."""

from __future__ import annotations

import pytest

from rewards.services.epochs import epoch_close
from tests.personas import ALICE

from .conftest import current_epoch, event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _close_current(world, now=None):
    epoch = current_epoch()
    return epoch_close(epoch_id=epoch.pk, now=now or epoch.ends_at)


def test_earnings_appear_and_grow_on_screen_as_epochs_close(live_server, page, wallet, world):
    world.report([event(world.model, 3000), event(world.agent, 1000)])
    first = _close_current(world)
    wallet(page, ALICE)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.get_by_test_id("signed-in-address").wait_for()
    page.goto(live_server.url + "/earnings/")
    assert page.get_by_test_id("total-LAZ").inner_text() == "245,000 LAZ"
    assert page.get_by_test_id("earnings-chart").locator("rect").count() == 1
    assert page.locator(f'a[href="/ledger/tx/{first.payout_tx_id}"]').first.is_visible()

    world.report([event(world.model, 3000)], now=first.ends_at)
    _close_current(world, now=first.ends_at + (first.ends_at - first.starts_at) * 2)
    page.get_by_test_id("total-LAZ").filter(has_text="571,666 LAZ").wait_for(timeout=20_000)
    assert page.get_by_test_id("earnings-chart").locator("rect").count() == 2

    page.get_by_role("link", name=f"#{first.number}").first.click()
    assert page.get_by_test_id("pool-LAZ").inner_text() == "1,000,000 LAZ"
