"""Public anchoring of sealed blocks.

The contract path (docs/ledger.md "On-chain anchoring"): sealed blocks are read by the periodic
publisher (`anchors_plan`), grouped into one `LedgerAnchor.anchor(fromHeight, toHeight,
lastBlockHash, rootOfRoots)` call each (rootOfRoots: an OpenZeppelin StandardMerkleTree over
`(uint256 height, bytes32 blockHash)`), and sent through the chain outbox (ledger.outbox). Proof
bundles gain a `chainAnchor` once their block's publication is confirmed; `check_on_chain` checks
one against the contract's storage and the transaction's event.

The legacy path (`block_publish`): with LEDGER_EVM_RPC_URL and LEDGER_EVM_PRIVATE_KEY set, each
block's blockHash ‖ merkleRoot ‖ uint256(height) is calldata of a transaction to the signer."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import transaction
from eth_account import Account

from . import merkle
from .models import Block
from .onchain import (  # noqa: F401  # the contract path, re-exported for callers of this module
    ANCHOR_ENCODING,
    anchor_leaf,
    anchors_plan,
    chain_anchor_for,
    check_on_chain,
    root_of_roots,
)


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or os.environ.get(name, ""))


def configured() -> bool:
    return bool(_setting("LEDGER_EVM_RPC_URL") and _setting("LEDGER_EVM_PRIVATE_KEY"))


def calldata(block: Block) -> bytes:
    return merkle.from_hex(block.block_hash) + merkle.from_hex(block.merkle_root) + block.height.to_bytes(32, "big")


def block_publish(*, height: int, w3=None, private_key: str | None = None) -> str | None:
    """Send the block's commitment to the chain once and record the transaction hash on the block.
    Returns the transaction hash, or None when public anchoring is not configured."""
    if w3 is None:
        if not configured():
            return None
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(_setting("LEDGER_EVM_RPC_URL"), request_kwargs={"timeout": 20}))
    signer = Account.from_key(private_key or _setting("LEDGER_EVM_PRIVATE_KEY"))
    with transaction.atomic():
        # The row lock makes two workers publishing the same block send one chain transaction.
        block = Block.objects.select_for_update().get(height=height)
        if block.evm_tx_hash:
            return block.evm_tx_hash
        chain_id = w3.eth.chain_id
        tx = {
            "chainId": chain_id,
            "from": signer.address,
            "to": signer.address,
            "value": 0,
            "data": calldata(block),
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        }
        tx["gas"] = w3.eth.estimate_gas(tx)
        fees = w3.eth.get_block("latest").get("baseFeePerGas")
        if fees is not None:
            tx["maxPriorityFeePerGas"] = w3.to_wei(1, "gwei")
            tx["maxFeePerGas"] = fees * 2 + tx["maxPriorityFeePerGas"]
        else:
            tx["gasPrice"] = w3.eth.gas_price
        signed = signer.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise RuntimeError(f"the anchoring transaction for block {height} reverted")
        hex_hash = "0x" + bytes(tx_hash).hex()
        Block.objects.filter(height=height, evm_tx_hash="").update(evm_chain_id=chain_id, evm_tx_hash=hex_hash)
    return hex_hash
