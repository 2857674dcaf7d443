"""The treasury in headless Chromium with the injected wallet: a member proposes a transfer with
the form (no JSON), votes for it, and once the timelock has passed sees the ledger transaction on
the treasury page; a member comments on a proposal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from idaos.models import Proposal
from idaos.services import proposals
from idaos.tasks import execute_timelocked_proposals
from ledger.models import Transaction
from tests.celery_helpers import wait_for
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_treasury import fund_treasury
from tests.personas import ALICE, BOB, CAROL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE_TIMEOUT = 30_000  # ms; every expect waits for the state it asserts


def sign_in(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.get_by_role("button", name="Sign in with Ethereum").click()
    expect(page.get_by_test_id("signed-in-address")).to_be_visible(timeout=STATE_TIMEOUT)


def test_member_proposes_a_transfer_with_the_form_votes_and_sees_the_ledger_transaction(live_server, page, wallet):
    idao = make_idao(members=[BOB], execution_delay=1)
    fund_treasury(idao, 1000)
    wallet(page, BOB)
    sign_in(page, live_server, f"/idaos/{idao.slug}/")
    page.get_by_test_id("treasury-link").click()
    page.get_by_test_id("propose-treasury").click()
    form = page.get_by_test_id("treasury-form")
    form.locator('input[name="title"]').fill("Pay the auditor")
    form.locator('select[name="asset"]').select_option("LAZ")
    form.locator('input[name="amount"]').fill("250")
    form.locator('input[name="to"]').fill(CAROL.address)
    form.locator('input[name="memo"]').fill("audit Q3")
    form.get_by_role("button", name="Propose").click()

    page.get_by_role("button", name="For", exact=True).click()
    expect(page.get_by_test_id("tally-for")).to_have_text("1", timeout=STATE_TIMEOUT)
    proposal = Proposal.objects.get(title="Pay the auditor")
    assert proposal.payload == {"asset": "LAZ", "amount": "250", "to": CAROL.address, "memo": "audit Q3"}

    # Voting ends (the period is an hour; the test moves its end), then the timelock runs its second.
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=proposal.voting_starts_at)
    assert proposals.proposal_close(proposal_id=proposal.pk)
    page.reload()
    expect(page.get_by_test_id("timelock")).to_be_visible(timeout=STATE_TIMEOUT)
    wait_for(lambda: execute_timelocked_proposals() == 1)
    tx = Transaction.objects.get(idempotency_key=f"idaos:proposal:{proposal.pk}:treasury-transfer")

    page.goto(f"{live_server.url}/idaos/{idao.slug}/treasury")
    expect(page.get_by_test_id("balance-LAZ")).to_have_text("750", timeout=STATE_TIMEOUT)
    link = page.get_by_test_id("outflow-tx")
    expect(link).to_have_text(f"tx {tx.pk}", timeout=STATE_TIMEOUT)
    link.click()
    expect(page).to_have_url(f"{live_server.url}/ledger/tx/{tx.pk}", timeout=STATE_TIMEOUT)


def test_member_comments_on_a_proposal(live_server, page, wallet):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao, author=ALICE, title="Train on the cardiology set")
    wallet(page, BOB)
    sign_in(page, live_server, f"/proposals/{proposal.pk}")
    page.get_by_test_id("comment-body").fill("I **agree** <script>window.__xss = 1</script>")
    page.get_by_test_id("comment-submit").click()
    body = page.get_by_test_id("comment-body-html")
    expect(body.locator("strong")).to_have_text("agree", timeout=STATE_TIMEOUT)
    expect(body).to_contain_text("<script>", timeout=STATE_TIMEOUT)  # shown as text, never run
    assert page.evaluate("window.__xss") is None
