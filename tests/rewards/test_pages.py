from __future__ import annotations

import csv
import io

from dats.models import DAT
from dats.services import access_request
from ledger import owners
from ledger import selectors as ledger_selectors
from rewards.models import CreditGrant, Payout
from rewards.services.epochs import epoch_close
from tests.dats.factories import credit, token_for
from tests.personas import ALICE, BOB, MALLORY

from .conftest import current_epoch, event, fund_credit
from .factories import MembershipFactory, user_of


def _closed(world):
    world.report([event(world.model, 3000), event(world.agent, 1000)])
    epoch = current_epoch()
    return epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)


def test_my_earnings_needs_a_session(client, db):
    assert client.get("/earnings/").status_code == 302


def test_my_earnings_show_totals_chart_and_links_to_each_ledger_tx_and_proof(
    world, signed_in, django_assert_max_num_queries
):
    epoch = _closed(world)
    client = signed_in(ALICE)
    with django_assert_max_num_queries(15):
        html = client.get("/earnings/").content.decode()
    assert 'data-testid="total-LAZ" title="245000">245,000 LAZ<' in html
    assert f'href="/ledger/tx/{epoch.payout_tx_id}"' in html and f'href="/ledger/proofs/{epoch.payout_leaf_id}"' in html
    assert "<svg" in html and "<rect" in html
    assert f"#{world.d1.pk}" in html and "alpha" in html.lower()
    line = Payout.objects.filter(user__address=ALICE.address).first()
    assert f'href="/earnings/epochs/{epoch.number}/payouts/{line.pk}/proof.json"' in html


def test_the_earnings_fragment_refreshes_over_htmx(world, signed_in):
    _closed(world)
    html = signed_in(ALICE).get("/earnings/", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="earnings-body"') and "<html" not in html


def test_earnings_csv_lists_every_payout_line(world, signed_in):
    epoch = _closed(world)
    response = signed_in(BOB).get("/earnings/earnings.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == Payout.objects.filter(user__address=BOB.address).count() == 4  # d2 and e1, two assets
    assert sum(int(r["amount"]) for r in rows if r["asset"] == "LAZ") == 272_500
    assert {r["ledger_tx"] for r in rows} == {str(epoch.payout_tx_id)}


def test_the_epoch_page_is_public_with_pool_split_top_earners_and_anchor(world, client):
    epoch = _closed(world)
    html = client.get(f"/earnings/epochs/{epoch.number}/").content.decode()
    assert 'data-testid="pool-LAZ" title="1000000">1,000,000 LAZ<' in html
    assert 'data-testid="pool-CREDIT" title="4000">4,000 CREDIT<' in html
    assert owners.user(BOB.address) in html and f"/ledger/proofs/{epoch.anchor_leaf_id}" in html
    assert epoch.payouts_root in html
    api = client.get(f"/api/v1/rewards/epochs/{epoch.number}").json()
    assert api["pool_laz"] == "1000000" and api["top_earners"][0]["recipient"] == owners.user(BOB.address)


def test_the_dat_fragment_shows_usage_and_earnings(world, client):
    _closed(world)
    fragment = client.get(f"/earnings/dats/{world.d1.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith("<section") and "122500" in fragment and "<svg" in fragment
    page = client.get(f"/earnings/dats/{world.d1.pk}/").content.decode()
    assert "<html" in page and 'data-testid="dat-earnings"' in page


def test_idao_earnings_are_for_members_only(world, signed_in):
    _closed(world)
    MembershipFactory(idao=world.a, user=user_of(BOB))
    assert signed_in(BOB).get("/earnings/idaos/alpha/").status_code == 200
    assert signed_in(MALLORY).get("/earnings/idaos/alpha/").status_code == 403


def test_a_steward_grants_compute_credits_to_a_member_once(world, signed_in):
    MembershipFactory(idao=world.a, user=user_of(ALICE), role="steward")
    MembershipFactory(idao=world.a, user=user_of(BOB))
    fund_credit("idao:alpha", 1000)
    client = signed_in(ALICE)
    form = {"member": BOB.address, "amount": "300", "request_key": "grant-1", "memo": "GPU time"}
    assert client.post("/earnings/idaos/alpha/credits", form).status_code == 302
    assert client.post("/earnings/idaos/alpha/credits", form).status_code == 302
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == 300
    assert ledger_selectors.balance("idao:alpha", "CREDIT") == 700
    assert CreditGrant.objects.count() == 1


def test_only_stewards_grant_credits_and_only_to_members(world, signed_in):
    MembershipFactory(idao=world.a, user=user_of(ALICE), role="steward")
    MembershipFactory(idao=world.a, user=user_of(BOB))
    fund_credit("idao:alpha", 1000)
    as_bob = signed_in(BOB).post(
        "/api/v1/rewards/idaos/alpha/credit-grants",
        {"member": BOB.address, "amount": 5, "idempotency_key": "k"},
        content_type="application/json",
    )
    assert as_bob.status_code == 403 and as_bob.json()["error"] == "not_steward"
    to_outsider = signed_in(ALICE).post(
        "/api/v1/rewards/idaos/alpha/credit-grants",
        {"member": MALLORY.address, "amount": 5, "idempotency_key": "k"},
        content_type="application/json",
    )
    assert to_outsider.status_code == 403 and to_outsider.json()["error"] == "not_member"
    too_much = signed_in(ALICE).post(
        "/api/v1/rewards/idaos/alpha/credit-grants",
        {"member": BOB.address, "amount": 5000, "idempotency_key": "k2"},
        content_type="application/json",
    )
    assert too_much.status_code == 409 and too_much.json()["error"] == "insufficient_funds"
    assert CreditGrant.objects.count() == 0


def test_my_earnings_api_returns_totals_per_asset(world, signed_in):
    _closed(world)
    body = signed_in(ALICE).get("/api/v1/rewards/earnings").json()
    assert body["totals"] == {"LAZ": 245_000, "CREDIT": 980}
    assert body["history"][0]["LAZ"] == 245_000


def test_the_openapi_document_describes_the_usage_endpoint(client, db):
    doc = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/usage" in doc["paths"]


def test_an_open_epoch_shows_the_same_running_event_count_in_the_sentence_the_row_and_its_page(world, client):
    world.report([event(world.model, 3000), event(world.agent, 1000), event(world.model, 10)])
    epoch = current_epoch()
    listing = client.get("/earnings/epochs/").content.decode()
    assert "(3 events so far)" in listing
    assert f'data-testid="events-{epoch.number}">3<' in listing
    page = client.get(f"/earnings/epochs/{epoch.number}/").content.decode()
    assert 'data-testid="event-count">3<' in page


def test_my_earnings_include_access_fees_and_charts_per_asset_with_axes_and_values(world, signed_in):
    _closed(world)
    DAT.objects.filter(pk=world.d1.pk).update(price_credit=30, allowed_uses=["training"])
    _raw, token = token_for(BOB)
    credit(owners.user(BOB.address), 100)
    grant = access_request(dat_id=world.d1.pk, token=token, use="training", idempotency_key="fee-1").grant
    html = signed_in(ALICE).get("/earnings/").content.decode()
    assert f'data-testid="access-fees" title="{grant.owner_share}">{grant.owner_share} CREDIT<' in html
    assert 'data-testid="access-fee-lines"' in html and f"#{world.d1.pk}" in html
    assert 'data-testid="earnings-chart"' in html and 'data-testid="earnings-chart-CREDIT"' in html
    assert "x axis: epoch number" in html and "<desc>epoch " in html
