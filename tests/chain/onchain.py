"""Fixtures for on-chain publication: the local EVM, a funded publisher key, and LedgerAnchor
plus the ERC-8028 DataAnchoringToken deployed from the committed bytecode by
`manage.py deploy_contracts`. Import into a test module with
`from tests.chain.onchain import *  # noqa: F403`."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from eth_abi import decode
from eth_account import Account

from ledger import onchain_tasks
from tests.chain import LocalChain
from tests.chain.wallets import CHAIN_ID, local_chain

PUBLISHER = Account.from_key("0x" + "5e" * 32)


@dataclass
class OnChain:
    chain: LocalChain
    anchor: str
    token: str

    def publish(self, now=None) -> None:
        """One publisher pass, as the periodic task runs it."""
        assert onchain_tasks.publish(now=now)

    def view(self, contract: str, signature: str, args: list[tuple[str, object]], out: list[str]) -> tuple:
        return decode(
            out, self.chain.call(contract, signature, *args) if args else self.chain.call(contract, signature)
        )

    def mine(self, blocks: int = 1) -> None:
        self.chain.rpc("evm_mine", blocks)


@pytest.fixture
def onchain(settings, local_chain) -> OnChain:
    """LEDGER_ANCHOR_* point at the local EVM with fresh contracts; one confirmation is enough
    (tests that need depth raise it)."""
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: local_chain.url}
    settings.LEDGER_ANCHOR_CHAIN_ID = CHAIN_ID
    settings.LEDGER_ANCHOR_PRIVATE_KEY = "0x" + PUBLISHER.key.hex().removeprefix("0x")
    settings.LEDGER_ANCHOR_CONFIRMATIONS = 1
    settings.LEDGER_ANCHOR_EVERY_BLOCKS = 1
    settings.LEDGER_ANCHOR_EVERY_SECONDS = 0
    settings.LEDGER_ANCHOR_CONTRACT = ""
    settings.DATS_ERC8028_CONTRACT = ""
    local_chain.rpc("miner_start")
    if local_chain.w3.eth.get_balance(PUBLISHER.address) < 10**18:
        local_chain.fund(PUBLISHER.address, 100 * 10**18)
    out = io.StringIO()
    call_command("deploy_contracts", stdout=out)
    addresses = dict(line.split("=", 1) for line in out.getvalue().split())
    settings.LEDGER_ANCHOR_CONTRACT = addresses["LEDGER_ANCHOR_CONTRACT"]
    settings.DATS_ERC8028_CONTRACT = addresses["DATS_ERC8028_CONTRACT"]
    yield OnChain(local_chain, addresses["LEDGER_ANCHOR_CONTRACT"], addresses["DATS_ERC8028_CONTRACT"])
    local_chain.rpc("miner_start")


__all__ = ["CHAIN_ID", "PUBLISHER", "OnChain", "local_chain", "onchain"]
