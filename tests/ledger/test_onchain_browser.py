"""The proof page's Verify button checks the chain anchor against the LedgerAnchor contract
through the page's public RPC (headless Chromium, py-evm), and says "not checked" without one."""

from __future__ import annotations

import pytest

from ledger import services
from tests.chain.onchain import *  # noqa: F403


def anchored_leaf(onchain) -> int:
    leaf = services.anchor(kind="test.record", subject="browser", payload={"x": 1})
    services.block_seal()
    onchain.publish()
    onchain.publish()
    return leaf.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_verify_button_checks_the_chain_anchor_through_the_public_rpc(live_server, page, onchain, settings):
    leaf_id = anchored_leaf(onchain)
    settings.LEDGER_ANCHOR_PUBLIC_RPC = onchain.chain.url
    page.goto(f"{live_server.url}/ledger/proofs/{leaf_id}")
    assert "tx 0x" in page.get_by_test_id("chain-anchor").inner_text()
    page.get_by_role("button", name="Verify in this browser").click()
    result = page.locator("[data-proof-result]")
    result.filter(has_text="Verified").wait_for(timeout=15000)
    assert "checked against the contract on chain" in result.inner_text()

    # The same module refuses an anchored root the contract never stored.
    verdict = page.evaluate(
        """async ([url, rpc]) => {
            const { anchorOnChainProblem } = await import('/static/js/ledger-verify.js');
            const bundle = await (await fetch(url)).json();
            const ok = await anchorOnChainProblem(bundle.chainAnchor, rpc);
            bundle.chainAnchor.rootOfRoots = '0x' + 'ab'.repeat(32);
            return [ok, await anchorOnChainProblem(bundle.chainAnchor, rpc)];
        }""",
        [f"{live_server.url}/ledger/proofs/{leaf_id}.json", onchain.chain.url],
    )
    assert verdict == [None, "the contract never anchored this root"]
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_without_a_public_rpc_the_page_says_the_anchor_is_not_checked(live_server, page, onchain, settings):
    leaf_id = anchored_leaf(onchain)
    settings.LEDGER_ANCHOR_PUBLIC_RPC = ""
    page.goto(f"{live_server.url}/ledger/proofs/{leaf_id}")
    page.get_by_role("button", name="Verify in this browser").click()
    result = page.locator("[data-proof-result]")
    result.filter(has_text="Verified").wait_for(timeout=15000)
    assert f"anchored on chain {onchain.chain.w3.eth.chain_id} in tx 0x" in result.inner_text()
    assert "not checked" in result.inner_text()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dat_verify_button_checks_the_mint_records_chain_anchor(live_server, page, onchain, settings):
    from tests.dats.factories import make_idao, minted
    from tests.personas import ALICE

    dat = minted(make_idao(ALICE), ALICE)
    services.block_seal()
    onchain.publish()
    onchain.publish()
    settings.LEDGER_ANCHOR_PUBLIC_RPC = onchain.chain.url
    page.goto(f"{live_server.url}/dats/{dat.pk}/")
    page.get_by_role("button", name="Verify").click()
    result = page.locator("[data-verify-result][data-state]")
    result.wait_for()
    assert result.get_attribute("data-state") == "pass", result.inner_text()
    checks = page.locator("[data-verify-checks] li").all_inner_texts()
    assert any("checked against the contract on chain" in c for c in checks), checks
    assert page.errors == []
