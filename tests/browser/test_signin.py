"""The wallet sign-in, in headless Chromium with an injected EIP-1193 wallet."""

from __future__ import annotations

import pytest

from portal.models import User
from tests.personas import ALICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_user_clicks_sign_in_and_ends_up_signed_in_with_the_address_shown(live_server, page, wallet):
    requests = wallet(page, ALICE)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    shown = page.get_by_test_id("signed-in-address")
    shown.wait_for()
    assert shown.inner_text() == f"{ALICE.address[:6]}…{ALICE.address[-4:]}"
    assert shown.get_attribute("title") == ALICE.address
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert [method for method, _ in requests] == ["personal_sign"]
    assert User.objects.filter(address=ALICE.address).exists()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in with Ethereum").wait_for()


def test_user_rejects_the_signature_and_sees_the_message(live_server, page, wallet):
    wallet(page, ALICE, reject=True)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    status = page.locator("[data-siwe-status]")
    status.filter(has_text="You rejected the request in your wallet").wait_for()
    assert not User.objects.exists()
    assert page.get_by_role("button", name="Sign in with Ethereum").is_enabled()


def test_visitor_without_a_wallet_is_told_to_install_one(live_server, page):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("[data-siwe-status]").filter(has_text="No Ethereum wallet found").wait_for()


def test_wallet_on_a_chain_the_portal_does_not_accept_is_told_to_switch(live_server, page, wallet):
    wallet(page, ALICE, chain_id=56)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    page.locator("[data-siwe-status]").filter(has_text="switch to one of").wait_for()
