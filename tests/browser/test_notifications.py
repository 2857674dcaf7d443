"""The inbox in headless Chromium: a member sees the unread badge after a proposal opens, opens
the inbox and follows the notification to the proposal (which marks it read)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from notifications.models import Notification
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STATE_TIMEOUT = 30_000  # ms


def test_member_sees_the_unread_badge_opens_the_inbox_and_follows_the_link(
    live_server, page, wallet, broker, celery_worker
):
    idao = make_idao(members=[BOB])
    wallet(page, BOB)
    page.goto(f"{live_server.url}/idaos/{idao.slug}/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("unread-count")).to_have_count(0, timeout=STATE_TIMEOUT)

    proposal = make_proposal(idao, author=ALICE, title="Fund the imaging dataset")
    wait_for(lambda: Notification.objects.filter(recipient=user_of(BOB), channel="inapp").count() == 2)
    page.reload()  # the badge also refreshes itself every 30 s; a navigation shows it at once
    expect(page.get_by_test_id("unread-count")).to_have_text("2", timeout=STATE_TIMEOUT)

    page.get_by_test_id("notification-badge").click()
    expect(page).to_have_url(f"{live_server.url}/notifications/", timeout=STATE_TIMEOUT)
    opened = page.get_by_test_id("notification").filter(
        has_text="Voting opened on a proposal: Fund the imaging dataset"
    )
    expect(opened).to_be_visible(timeout=STATE_TIMEOUT)
    opened.click()
    expect(page).to_have_url(f"{live_server.url}/proposals/{proposal.pk}", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("unread-count")).to_have_text("1", timeout=STATE_TIMEOUT)
    assert page.errors == []
