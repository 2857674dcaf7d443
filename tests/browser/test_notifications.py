"""The inbox in headless Chromium: a member sees the unread badge after a proposal opens, opens
the inbox and follows the notification to the proposal (which marks it read); then adds a webhook
on the settings page (its secret shown once) and presses "Send test event"."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from notifications.models import Notification, Webhook
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.notifications.conftest import Receiver
from tests.personas import ALICE, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STATE_TIMEOUT = 30_000  # ms


def test_member_sees_the_unread_badge_opens_the_inbox_and_follows_the_link(
    live_server, page, wallet, broker, celery_worker, settings
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

    receiver = Receiver()
    receiver.thread.start()
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    try:
        page.goto(f"{live_server.url}/notifications/settings")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name="Add webhook").click()
        secret = page.get_by_test_id("webhook-secret")
        expect(secret).to_be_visible(timeout=STATE_TIMEOUT)
        receiver.secret = secret.inner_text()
        assert receiver.secret == Webhook.objects.get().secret
        page.get_by_role("button", name="Send test event").click()
        expect(page.get_by_test_id("webhook-message")).to_contain_text("Test event sent", timeout=STATE_TIMEOUT)
        expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
        wait_for(lambda: receiver.kinds() == ["webhook.test"])
        assert receiver.requests[0]["verified"]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert page.errors == []
