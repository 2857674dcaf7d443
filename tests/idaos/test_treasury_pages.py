"""The treasury page and API, the treasury proposal form (no JSON), the timelock countdown and the
guardian veto over the API."""

from __future__ import annotations

import pytest

from idaos.models import Proposal
from idaos.services import proposals
from ledger.models import Transaction
from rewards.services.credits import credit_grant
from tests.factories import user_of
from tests.idaos.conftest import make_idao
from tests.idaos.test_treasury import end_timelock, fund_treasury, passed
from tests.personas import ALICE, BOB, CAROL, MALLORY
from tests.siwe_helpers import sign_in

pytestmark = pytest.mark.django_db


def test_the_form_proposes_a_treasury_transfer_without_json(client):
    idao = make_idao(members=[BOB])
    sign_in(client, BOB)
    page = client.get(f"/idaos/{idao.slug}/treasury/propose")
    assert page.status_code == 200 and "payload" not in page.content.decode()
    response = client.post(
        f"/idaos/{idao.slug}/treasury/propose",
        {
            "kind": "treasury_transfer",
            "title": "Pay the auditor",
            "asset": "LAZ",
            "amount": "250",
            "to": CAROL.address,
            "memo": "audit Q3",
            "discussion_url": "https://forum.example/t/1",
        },
    )
    proposal = Proposal.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/proposals/{proposal.pk}"
    assert proposal.kind == "treasury_transfer" and proposal.state == "active"
    assert proposal.payload == {"asset": "LAZ", "amount": "250", "to": CAROL.address, "memo": "audit Q3"}
    assert proposal.discussion_url == "https://forum.example/t/1"


def test_the_form_shows_the_services_refusal_and_creates_nothing(client):
    idao = make_idao(members=[BOB])
    sign_in(client, BOB)
    response = client.post(
        f"/idaos/{idao.slug}/treasury/propose",
        {
            "kind": "treasury_stream",
            "title": "Stipend",
            "asset": "LAZ",
            "amount": "5",
            "to": MALLORY.address,
            "epochs": 3,
        },
    )
    assert response.status_code == 200 and "is not an active member" in response.content.decode()
    assert not Proposal.objects.exists()
    sign_in(client, MALLORY)
    assert client.get(f"/idaos/{idao.slug}/treasury/propose").status_code == 403


def test_the_treasury_page_and_api_show_inflows_outflows_with_ledger_links(client, django_assert_max_num_queries):
    idao = make_idao(members=[BOB, CAROL], execution_delay=0)
    fund_treasury(idao, 1000)
    fund_treasury(idao, 500, "CREDIT")
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "300", "to": CAROL.address})
    credit_grant(idao=idao, steward=user_of(ALICE), member_address=BOB.address, amount=20, request_key="g")
    tx = Transaction.objects.get(idempotency_key=f"idaos:proposal:{proposal.pk}:treasury-transfer")
    with django_assert_max_num_queries(12):
        page = client.get(f"/idaos/{idao.slug}/treasury")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="/ledger/tx/{tx.pk}"' in html and f"Proposal #{proposal.pk}" in html and "Steward grant" in html
    data = client.get(f"/api/v1/idaos/{idao.slug}/treasury").json()
    assert data["balances"] == {"LAZ": "700", "CREDIT": "480"}
    assert {(r["source"], r["asset"], r["amount"]) for r in data["inflows"]} == {
        ("Minted", "LAZ", "1000"),
        ("Minted", "CREDIT", "500"),
    }
    sources = [(r["source"], r["proposal"], r["amount"], r["ledger_tx"]) for r in data["outflows"]]
    assert ("proposal", proposal.pk, "300", tx.pk) in sources and (
        "steward_grant",
        None,
        "20",
        sources[0][3],
    ) in sources


def test_the_proposal_page_counts_down_the_timelock_and_links_the_executed_transaction(client):
    idao = make_idao(members=[BOB])
    fund_treasury(idao, 10)
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "10", "to": BOB.address})
    html = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert 'data-testid="timelock-countdown"' in html
    assert client.get(f"/api/v1/proposals/{proposal.pk}").json()["execute_after"] is not None
    end_timelock(proposal)
    proposals.proposal_execute_due(proposal_id=proposal.pk)
    html = client.get(f"/proposals/{proposal.pk}").content.decode()
    assert 'data-testid="execution-tx"' in html and "timelock-countdown" not in html


def test_the_guardian_veto_over_the_api(client):
    idao = make_idao(members=[BOB], guardian_veto=True)
    fund_treasury(idao, 10)
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "10", "to": BOB.address})
    sign_in(client, BOB)
    url = f"/api/v1/proposals/{proposal.pk}/veto"
    refused = client.post(url, {"reason": "no"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "not_steward"
    sign_in(client, ALICE)
    assert client.post(url, {"reason": "x"}, content_type="application/json").status_code == 422
    vetoed = client.post(url, {"reason": "wrong recipient"}, content_type="application/json")
    assert vetoed.status_code == 200 and vetoed.json()["state"] == "cancelled"
    again = client.post(url, {"reason": "wrong recipient"}, content_type="application/json")
    assert again.status_code == 409 and again.json()["error"] == "not_in_timelock"
