"""Delegating in headless Chromium: a member delegates healthcare to another from the delegate's
profile page with a wallet signature, the delegate votes and the tally carries the delegated weight;
then the delegator votes against and the tally moves (their own ballot wins)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from idaos.models import Delegation
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_delegation_resolution import delegate
from tests.personas import BOB, CAROL, DAVE
from tests.siwe_helpers import sign_in as siwe_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE_TIMEOUT = 30_000  # ms: every expect waits for the state it asserts; nothing sleeps


def sign_in(page) -> None:
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)


def test_member_delegates_healthcare_from_the_profile_and_their_own_ballot_moves_the_tally(
    live_server, browser, page, wallet
):
    idao = make_idao(members=[BOB, CAROL])  # a healthcare iDAO, one member one vote, Alice founded it
    bob_requests = wallet(page, BOB)
    page.goto(f"{live_server.url}/people/{CAROL.address}/")
    sign_in(page)
    form = page.locator("form[data-delegate]")
    expect(form.get_by_test_id("delegate-scope")).to_have_value("domain:healthcare", timeout=STATE_TIMEOUT)
    form.get_by_role("button", name="Sign and delegate").click()
    expect(form.locator("[data-delegate-status]")).to_contain_text("Delegated: 100%", timeout=STATE_TIMEOUT)

    signed = [json.loads(p[1]) for m, p in bob_requests if m == "eth_signTypedData_v4"]
    assert len(signed) == 1 and signed[0]["primaryType"] == "Delegation"
    assert signed[0]["message"]["shares"] == [{"delegate": CAROL.address, "bps": 10000}]
    d = Delegation.objects.get(delegator=BOB.address)
    assert (d.scope, d.ended_at) == ("domain:healthcare", None)

    proposal = make_proposal(idao, title="Train on the radiology set")  # voting opens: the snapshot resolves it

    carol_context = browser.new_context()
    try:
        carol = carol_context.new_page()
        wallet(carol, CAROL)
        carol.goto(f"{live_server.url}/proposals/{proposal.pk}")
        sign_in(carol)
        carol.get_by_role("button", name="For", exact=True).click()
        expect(carol.get_by_test_id("tally-for")).to_have_text("2", timeout=STATE_TIMEOUT)  # her vote and Bob's
        expect(carol.get_by_test_id("behalf").first).to_contain_text(BOB.address[:6], timeout=STATE_TIMEOUT)
    finally:
        carol_context.close()

    page.goto(f"{live_server.url}/proposals/{proposal.pk}")
    expect(page.get_by_test_id("tally-for")).to_have_text("2", timeout=STATE_TIMEOUT)
    page.get_by_role("button", name="Against", exact=True).click()
    expect(page.get_by_test_id("tally-against")).to_have_text("1", timeout=STATE_TIMEOUT)
    expect(page.get_by_test_id("tally-for")).to_have_text("1", timeout=STATE_TIMEOUT)
    assert page.errors == []


def test_member_revokes_from_my_delegations_with_a_signed_revocation(live_server, page, wallet):
    make_idao(members=[BOB, CAROL])
    delegate(BOB, [(CAROL, 10000)], scope="global")
    requests = wallet(page, BOB)
    page.goto(f"{live_server.url}/delegations/")
    sign_in(page)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("[data-delegate-status]")).to_contain_text("Revoked", timeout=STATE_TIMEOUT)
    d = Delegation.objects.get(delegator=BOB.address)
    assert d.ended_at is not None and d.revocation_digest
    assert [json.loads(p[1])["primaryType"] for m, p in requests if m == "eth_signTypedData_v4"] == ["Revocation"]


def test_rejected_signature_is_said_in_plain_words_and_nothing_is_recorded(live_server, page, wallet):
    make_idao(members=[BOB, CAROL])
    client = Client()
    siwe_sign_in(client, BOB)  # the rejecting wallet would refuse to sign in too: reuse a real session
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    wallet(page, BOB, reject=True)
    page.goto(f"{live_server.url}/people/{CAROL.address}/")
    page.locator("form[data-delegate]").get_by_role("button", name="Sign and delegate").click()
    status = page.locator("[data-delegate-status]")
    expect(status).to_have_text("You rejected the request in your wallet. Nothing was signed.", timeout=STATE_TIMEOUT)
    assert not Delegation.objects.exists()


def test_a_second_delegate_in_the_same_scope_is_added_beside_the_first_as_a_split(live_server, page, wallet):
    make_idao(members=[BOB, CAROL, DAVE])
    delegate(BOB, [(CAROL, 6000)])  # 60% of Bob's healthcare vote to Carol
    wallet(page, BOB)
    page.goto(f"{live_server.url}/people/{DAVE.address}/")
    sign_in(page)
    form = page.locator("form[data-delegate]")
    status = form.locator("[data-delegate-status]")
    form.get_by_test_id("delegate-scope").select_option("domain:healthcare")
    form.get_by_test_id("delegate-share").fill("50")
    form.get_by_role("button", name="Sign and delegate").click()
    expect(status).to_contain_text("at most 40% is left", timeout=STATE_TIMEOUT)
    form.get_by_test_id("delegate-share").fill("40")
    form.get_by_role("button", name="Sign and delegate").click()
    expect(status).to_contain_text("Delegated: 40%", timeout=STATE_TIMEOUT)
    live = Delegation.objects.get(delegator=BOB.address, ended_at=None)
    assert sorted((s.delegate, s.bps) for s in live.shares.all()) == sorted(
        [(CAROL.address, 6000), (DAVE.address, 4000)]
    )
