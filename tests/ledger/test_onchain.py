"""On-chain anchoring on py-evm (eth-tester behind the JSON-RPC harness): the LedgerAnchor
contract from committed bytecode, the outbox publisher (nonces, replacement, confirmation depth,
reorgs) and proof bundles checked against the chain."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ledger import merkle, onchain_tasks, outbox, proofs, selectors, services
from ledger.models import Leaf
from ledger.models_onchain import AnchorPublication, ChainTx, ChainTxState
from ledger.onchain import build, check_on_chain, root_of_roots
from portal import chains
from tests.chain.onchain import *  # noqa: F403
from tests.chain.onchain import CHAIN_ID, PUBLISHER

pytestmark = pytest.mark.django_db


def seal(blocks: int) -> list:
    sealed = []
    for i in range(blocks):
        services.anchor(kind="test.record", subject=f"r{i}", payload={"i": i})
        sealed.append(services.block_seal())
    return sealed


def first_leaf() -> int:
    return Leaf.objects.order_by("id").values_list("id", flat=True)[0]


def rpc_client(onchain) -> chains.RpcClient:
    return chains.RpcClient(chain_id=CHAIN_ID, url=onchain.chain.url, timeout=5.0)


def anchor_state(onchain) -> tuple[int, int]:
    (count,) = onchain.view(onchain.anchor, "anchorCount()", [], ["uint256"])
    (last,) = onchain.view(onchain.anchor, "lastHeight()", [], ["uint256"])
    return count, last


def test_contracts_are_deployed_from_the_committed_bytecode(onchain):
    committed = build()
    for row in ChainTx.objects.filter(purpose="deploy"):
        sent = onchain.chain.w3.eth.get_transaction(row.tx_hash)
        assert row.state == ChainTxState.CONFIRMED
        assert sent["to"] is None and sent["from"] == PUBLISHER.address
        assert any(bytes(sent["input"]).hex().startswith(c["bytecode"][2:]) for c in committed["contracts"].values())
    assert committed["compiler"] == "vyper 0.4.3"
    (publisher,) = onchain.view(onchain.anchor, "publisher()", [], ["address"])
    (operator,) = onchain.view(onchain.token, "operator()", [], ["address"])
    assert publisher.lower() == operator.lower() == PUBLISHER.address.lower()


def test_the_publisher_anchors_100_sealed_blocks_in_a_handful_of_transactions(onchain, settings):
    settings.LEDGER_ANCHOR_EVERY_BLOCKS = 25
    settings.LEDGER_ANCHOR_MAX_BLOCKS = 25
    blocks = seal(100)
    onchain.publish()
    onchain.publish()
    publications = list(AnchorPublication.objects.order_by("from_height"))
    assert [(p.from_height, p.to_height) for p in publications] == [(1, 25), (26, 50), (51, 75), (76, 100)]
    assert all(p.chain_tx.state == ChainTxState.CONFIRMED for p in publications)
    assert anchor_state(onchain) == (4, 100)
    assert publications[-1].last_block_hash == blocks[-1].block_hash
    assert publications[0].root_of_roots == merkle.to_hex(
        root_of_roots([(b.height, b.block_hash) for b in blocks[:25]])
    )
    nonces = sorted(p.chain_tx.nonce for p in publications)
    assert nonces == list(range(nonces[0], nonces[0] + 4))


def test_blocks_wait_for_n_blocks_or_t_seconds(onchain, settings):
    settings.LEDGER_ANCHOR_EVERY_BLOCKS = 10
    settings.LEDGER_ANCHOR_EVERY_SECONDS = 60
    blocks = seal(3)
    onchain.publish(now=timezone.now())
    assert not AnchorPublication.objects.exists()
    late = datetime.fromtimestamp(blocks[0].timestamp + 61, tz=UTC)
    onchain.publish(now=late)
    assert [(p.from_height, p.to_height) for p in AnchorPublication.objects.all()] == [(1, 3)]


def test_a_bundle_verifies_against_the_chain_and_fails_when_its_block_hash_or_the_root_changes(onchain):
    leaf = services.anchor(kind="test.record", subject="proved", payload={"x": 1})
    services.block_seal()
    seal(4)
    assert "chainAnchor" not in selectors.proof_bundle(leaf.pk)  # not anchored yet
    onchain.publish()
    onchain.publish()
    bundle = selectors.proof_bundle(leaf.pk)
    anchor = bundle["chainAnchor"]
    assert (anchor["chainId"], anchor["contract"]) == (CHAIN_ID, onchain.anchor)
    assert anchor["txHash"] == AnchorPublication.objects.get().chain_tx.tx_hash
    proofs.check_proof(bundle)
    checked = onchain_check(anchor, onchain)
    assert "stores anchoring 1" in checked[0]

    changed_root = copy.deepcopy(bundle)
    changed_root["chainAnchor"]["rootOfRoots"] = "0x" + "ab" * 32
    assert not proofs.verify_proof(changed_root)
    with pytest.raises(ValueError, match="never anchored root"):
        onchain_check(changed_root["chainAnchor"], onchain)

    changed_block = copy.deepcopy(bundle)
    changed_block["chainAnchor"]["value"][1] = "0x" + "cd" * 32
    assert not proofs.verify_proof(changed_block)
    changed_block["block"]["blockHash"] = changed_block["chainAnchor"]["value"][1]
    assert not proofs.verify_proof(changed_block)

    # A self-consistent anchor for a range the contract holds differently is refused by the chain.
    other = copy.deepcopy(anchor)
    other["toHeight"] = 4
    with pytest.raises(ValueError, match="other heights"):
        onchain_check(other, onchain)


def onchain_check(anchor, onchain_fixture):
    return check_on_chain(anchor, rpc_client(onchain_fixture))


@pytest.mark.django_db(transaction=True)
def test_two_publishers_racing_send_one_transaction_per_publication(onchain, settings):
    settings.LEDGER_ANCHOR_MAX_BLOCKS = 3
    seal(9)
    start = onchain.chain.w3.eth.get_transaction_count(PUBLISHER.address)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            onchain_tasks.publish()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    onchain.publish()
    rows = list(ChainTx.objects.filter(purpose="anchor").order_by("nonce"))
    assert len(rows) == AnchorPublication.objects.count() == 3
    assert all(len(r.tx_hashes) == 1 and r.state == ChainTxState.CONFIRMED for r in rows)
    assert onchain.chain.w3.eth.get_transaction_count(PUBLISHER.address) == start + 3
    assert anchor_state(onchain) == (3, 9)


def test_a_stuck_transaction_is_replaced_with_the_same_nonce_and_a_higher_fee(onchain, settings):
    settings.LEDGER_ANCHOR_REPLACE_AFTER_SECONDS = 30
    seal(2)
    onchain.chain.rpc("miner_stop")
    now = timezone.now()
    onchain.publish(now=now)
    row = ChainTx.objects.get(purpose="anchor")
    assert row.state == ChainTxState.SENT and len(row.tx_hashes) == 1
    onchain.publish(now=now + timedelta(seconds=10))
    assert ChainTx.objects.get(pk=row.pk).replacements == 0
    onchain.publish(now=now + timedelta(seconds=31))
    replaced = ChainTx.objects.get(pk=row.pk)
    assert replaced.replacements == 1 and replaced.nonce == row.nonce
    assert replaced.max_fee_per_gas > row.max_fee_per_gas
    assert replaced.max_priority_fee_per_gas > row.max_priority_fee_per_gas
    assert replaced.tx_hashes == [row.tx_hash, replaced.tx_hash]
    onchain.chain.rpc("miner_start")
    onchain.mine()
    onchain.publish(now=now + timedelta(seconds=40))
    done = ChainTx.objects.get(pk=row.pk)
    assert done.state == ChainTxState.CONFIRMED
    assert done.tx_hash == replaced.tx_hash
    assert onchain.chain.w3.eth.get_transaction(done.tx_hash)["nonce"] == row.nonce
    assert anchor_state(onchain) == (1, 2)


def test_confirmation_waits_for_the_configured_depth(onchain, settings):
    settings.LEDGER_ANCHOR_CONFIRMATIONS = 3
    seal(1)
    onchain.publish()
    row = ChainTx.objects.get(purpose="anchor")
    assert row.state == ChainTxState.SENT and row.mined_block is not None
    onchain.mine(1)
    onchain.publish()
    assert ChainTx.objects.get(pk=row.pk).state == ChainTxState.SENT
    onchain.mine(1)
    onchain.publish()
    assert ChainTx.objects.get(pk=row.pk).state == ChainTxState.CONFIRMED


def test_a_reorg_puts_a_confirmed_publication_back_to_sent_and_sends_it_again(onchain):
    seal(2)
    snapshot = onchain.chain.rpc("evm_snapshot")
    onchain.publish()
    row = ChainTx.objects.get(purpose="anchor")
    assert row.state == ChainTxState.CONFIRMED
    assert "chainAnchor" in selectors.proof_bundle(first_leaf())
    onchain.chain.rpc("evm_revert", snapshot)
    assert anchor_state(onchain) == (0, 0)
    pub = outbox.publisher()
    outbox.track_sent(pub=pub, now=timezone.now())
    back = ChainTx.objects.get(pk=row.pk)
    assert back.state == ChainTxState.SENT and back.resends == 1 and back.mined_block is None
    assert "chainAnchor" not in selectors.proof_bundle(first_leaf())
    onchain.publish()
    again = ChainTx.objects.get(pk=row.pk)
    assert again.state == ChainTxState.CONFIRMED and again.tx_hash == row.tx_hash
    assert anchor_state(onchain) == (1, 2)


def test_without_a_chain_the_publisher_does_nothing(settings):
    settings.LEDGER_ANCHOR_CHAIN_ID = 0
    seal(2)
    assert onchain_tasks.publish() is False
    assert not ChainTx.objects.exists()
    assert "chainAnchor" not in selectors.proof_bundle(first_leaf())
