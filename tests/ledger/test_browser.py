"""The proof page verifies a bundle in headless Chromium with our ES module, not the server."""

from __future__ import annotations

import pytest

from ledger import services


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_visitor_verifies_a_proof_in_the_browser_and_a_tampered_bundle_fails(live_server, page):
    for i in range(5):
        services.mint(to=f"idao:d{i}", asset="CREDIT", amount=i + 1, idempotency_key=f"m{i}")
    leaf = services.anchor(kind="test.record", subject="r1", payload={"hello": "wörld"})
    services.block_seal()
    services.anchor(kind="test.record", subject="r2", payload={})
    services.block_seal()

    page.goto(f"{live_server.url}/ledger/proofs/{leaf.pk}")
    page.get_by_role("button", name="Verify in this browser").click()
    result = page.locator("[data-proof-result]")
    result.filter(has_text="Verified").wait_for(timeout=15000)
    assert "all agree" in result.inner_text()

    # The same module rejects a bundle with one changed byte in the proof.
    verdict = page.evaluate(
        """async (url) => {
            const { verifyBundle } = await import('/static/js/ledger-proof.js');
            const bundle = await (await fetch(url)).json();
            const ok = verifyBundle(bundle);
            const p = bundle.proof[0];
            bundle.proof[0] = p.slice(0, 10) + (p[10] === '0' ? '1' : '0') + p.slice(11);
            return [ok, verifyBundle(bundle)];
        }""",
        f"{live_server.url}/ledger/proofs/{leaf.pk}.json",
    )
    assert verdict == [None, "the proof does not lead to the root"]
    assert page.errors == []

    page.goto(f"{live_server.url}/ledger/")
    assert page.get_by_test_id("supply-CREDIT").inner_text() == "15"
