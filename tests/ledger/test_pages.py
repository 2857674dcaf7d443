from __future__ import annotations

import csv
import io

import pytest

from ledger import owners, proofs, services
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

A = owners.user(ALICE.address)
B = owners.user(BOB.address)


@pytest.fixture
def sealed():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="m1")
    tx = services.transfer(source=A, destination=B, asset="LAZ", amount=40, kind="transfer", idempotency_key="t1")
    record = services.anchor(kind="test.record", subject="r1", payload={"hello": "world"})
    block = services.block_seal()
    return {"tx": tx, "record": record, "block": block}


def test_index_shows_blocks_and_supply_and_refreshes_live(client, sealed):
    page = client.get("/ledger/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'hx-trigger="every 5s"' in html and "/ledger/blocks/1" in html
    assert 'data-testid="supply-LAZ">100<' in html
    fragment = client.get("/ledger/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="ledger-live"') and "<html" not in fragment


def test_index_queries_stay_bounded(client, sealed, django_assert_max_num_queries):
    for i in range(10):
        services.anchor(kind="test.record", subject=f"x{i}", payload={})
        services.block_seal()
    with django_assert_max_num_queries(8):
        client.get("/ledger/")


def test_block_page_and_json(client, sealed):
    block = sealed["block"]
    assert block.merkle_root in client.get("/ledger/blocks/1").content.decode()
    data = client.get("/ledger/blocks/1.json").json()
    assert data["header"] == block.header()
    assert data["leafIds"] == sorted(block.leaves().values_list("id", flat=True))
    assert client.get("/ledger/blocks/9").status_code == 404
    missing = client.get("/ledger/blocks/9.json")
    assert missing.status_code == 404 and missing.json()["error"] == "block_not_found"


def test_headers_json_is_paginated(client, sealed):
    for i in range(4):
        services.anchor(kind="test.record", subject=f"x{i}", payload={})
        services.block_seal()
    first = client.get("/ledger/headers.json?limit=2").json()
    assert [h["height"] for h in first["headers"]] == [1, 2] and first["next"] == 2 and first["latest"] == 5
    rest = client.get(f"/ledger/headers.json?after={first['next']}&limit=10").json()
    assert [h["height"] for h in rest["headers"]] == [3, 4, 5] and rest["next"] is None
    assert client.get("/ledger/headers.json?after=x").status_code == 422


def test_transaction_page_lists_postings_and_links_the_proof(client, sealed):
    tx = sealed["tx"]
    html = client.get(f"/ledger/tx/{tx.pk}").content.decode()
    assert A in html and B in html and f"/ledger/proofs/{tx.leaf.pk}" in html
    assert client.get("/ledger/tx/999999").status_code == 404


def test_account_page_shows_balance_history_and_exports_a_statement(client, sealed):
    html = client.get(f"/ledger/accounts/{A}").content.decode()
    assert 'data-testid="balance-LAZ" title="60">60 LAZ<' in html
    response = client.get(f"/ledger/accounts/{A}/statement.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in rows] == [
        ("mint", "100", "100"),
        ("transfer", "-40", "60"),
    ]
    assert client.get("/ledger/accounts/user:nobody").status_code == 404


def test_proof_json_verifies_and_the_page_offers_browser_verification(client, sealed):
    record = sealed["record"]
    bundle = client.get(f"/ledger/proofs/{record.pk}.json").json()
    assert {"root", "leafEncoding", "value", "proof", "block", "headers"} <= set(bundle)
    assert proofs.verify_proof(bundle)
    page = client.get(f"/ledger/proofs/{record.pk}").content.decode()
    assert bundle["root"] in page and "data-verify-proof" in page and "js/ledger-proof.js" in page
    api = client.get(f"/api/v1/ledger/proofs/{record.pk}").json()
    assert api == bundle


def test_an_unsealed_record_has_a_pending_proof(client, sealed):
    leaf = services.anchor(kind="test.record", subject="later", payload={})
    response = client.get(f"/ledger/proofs/{leaf.pk}.json")
    assert response.status_code == 409 and response.json()["error"] == "leaf_not_sealed"
    assert "Queued" in client.get(f"/ledger/proofs/{leaf.pk}").content.decode()
    assert client.get("/ledger/proofs/999999.json").status_code == 404


def test_api_reports_balances_supply_and_domain_errors(client, sealed):
    assert client.get(f"/api/v1/ledger/accounts/{A}/balances").json()["balances"] == {"LAZ": "60", "CREDIT": "0"}
    assert client.get("/api/v1/ledger/supply").json() == {"LAZ": "100", "CREDIT": "0"}
    missing = client.get("/api/v1/ledger/accounts/user:nobody/balances")
    assert missing.status_code == 404 and missing.json()["error"] == "account_not_found"
