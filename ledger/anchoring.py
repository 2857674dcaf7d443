"""Optional public anchoring: publish each sealed block to an EVM chain as transaction calldata.

Configured by LEDGER_EVM_RPC_URL and LEDGER_EVM_PRIVATE_KEY (settings or environment). The data
is blockHash ‖ merkleRoot ‖ uint256(height); the transaction goes from the signer to itself."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import transaction
from eth_account import Account

from . import merkle
from .models import Block


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
