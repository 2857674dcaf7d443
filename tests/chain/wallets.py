"""Pytest fixtures: a local EVM served over JSON-RPC and the project's wallets deployed on it.

Import the fixtures into a test module (`from tests.chain.wallets import *  # noqa: F403`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from tests.chain import LocalChain, selector, wrap_6492
from tests.personas import Persona

# py-evm's (eth-tester's) own chain id, as eth_chainId reports it: the portal checks it.
CHAIN_ID = 131277322940537


def sign_hash(who: Persona, digest: bytes) -> bytes:
    """`who`'s raw 65-byte r ‖ s ‖ v (v 27/28) signature over a 32-byte hash, no prefix."""
    signed = Account.unsafe_sign_hash(digest, who.account.key)
    return bytes(signed.signature)


@dataclass
class Wallets:
    chain: LocalChain
    blueprint: str
    factory: str

    def owned(self, owner: Persona) -> str:
        return self.chain.deploy("OwnedWallet", ("address", owner.address))

    def legacy(self, owner: Persona) -> str:
        return self.chain.deploy("LegacyWallet", ("address", owner.address))

    def approval(self, owner: Persona) -> str:
        """A Safe-style wallet `owner` controls that approves hashes on chain (`approve(hash)`)."""
        return self.chain.deploy("ApprovalWallet", ("address", owner.address))

    def approve_on_chain(self, wallet: str, owner: Persona, digest: bytes) -> None:
        """`owner` sends approve(digest) to the wallet (a Safe's signMessage through its owners)."""
        if owner.address not in self.chain.tester.get_accounts():
            self.chain.tester.add_account("0x" + owner.account.key.hex().removeprefix("0x"))
            self.chain.fund(owner.address)
        self.chain.transact(wallet, "approve(bytes32)", ("bytes32", digest), sender=owner.address)

    def garbage(self) -> str:
        return self.chain.deploy("GarbageWallet")

    def reverting(self) -> str:
        return self.chain.deploy("RevertingWallet")

    def deploy_calldata(self, owner: Persona, salt: bytes) -> bytes:
        return selector("deploy(address,bytes32)") + encode(["address", "bytes32"], [owner.address, salt])

    def counterfactual(self, owner: Persona, salt: bytes | None = None) -> tuple[str, bytes]:
        """The CREATE2 address an OwnedWallet for `owner` will have, and the factory calldata."""
        salt = salt or os.urandom(32)
        calldata = self.deploy_calldata(owner, salt)
        answer = bytes(self.chain.w3.eth.call({"to": self.factory, "data": "0x" + calldata.hex()}))
        return to_checksum_address(answer[12:32]), calldata

    def wrap(self, calldata: bytes, inner: bytes) -> str:
        return wrap_6492(self.factory, calldata, inner)


@pytest.fixture(scope="module")
def local_chain():
    chain = LocalChain()
    yield chain
    chain.stop()


@pytest.fixture(scope="module")
def wallets(local_chain) -> Wallets:
    blueprint = local_chain.deploy("OwnedWallet", blueprint=True)
    factory = local_chain.deploy("WalletFactory", ("address", blueprint))
    return Wallets(local_chain, blueprint, factory)


@pytest.fixture(autouse=True)
def _evm_chain_allowed_for_sign_in(settings):
    settings.SIWE_CHAIN_IDS = [*settings.SIWE_CHAIN_IDS, CHAIN_ID]


@pytest.fixture
def chain_rpc(settings, local_chain):
    """PORTAL_CHAIN_RPC points CHAIN_ID at the local EVM; request counts start at zero."""
    assert local_chain.w3.eth.chain_id == CHAIN_ID
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: local_chain.url}
    local_chain.calls.clear()
    return local_chain


def legacy_digest_hash(digest: bytes) -> bytes:
    """What LegacyWallet's owner signs for a digest: keccak256(abi.encode(digest))."""
    return keccak(digest)


__all__ = [
    "CHAIN_ID",
    "Wallets",
    "_evm_chain_allowed_for_sign_in",
    "chain_rpc",
    "legacy_digest_hash",
    "local_chain",
    "sign_hash",
    "wallets",
]
