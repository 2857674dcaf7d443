"""Public anchoring against web3's in-process EthereumTesterProvider (a real EVM, py-evm)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from web3 import EthereumTesterProvider, Web3

from ledger import anchoring, merkle, services
from ledger.models import Block
from tests.personas import CAROL

pytestmark = pytest.mark.django_db


@pytest.fixture
def w3():
    w3 = Web3(EthereumTesterProvider())
    # Fund the anchoring key from the tester's unlocked account.
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": CAROL.address, "value": w3.to_wei(1, "ether")})
    )
    return w3


def test_a_sealed_block_is_published_once_in_calldata_and_its_chain_tx_is_recorded(w3):
    services.anchor(kind="test.record", subject="r1", payload={"a": 1})
    block = services.block_seal()
    key = "0x" + CAROL.account.key.hex().removeprefix("0x")
    tx_hash = anchoring.block_publish(height=block.height, w3=w3, private_key=key)
    chain_tx = w3.eth.get_transaction(tx_hash)
    assert bytes(chain_tx["input"]) == merkle.from_hex(block.block_hash) + merkle.from_hex(block.merkle_root) + (
        1
    ).to_bytes(32, "big")
    assert chain_tx["from"] == chain_tx["to"] == CAROL.address
    block.refresh_from_db()
    assert (block.evm_tx_hash, block.evm_chain_id) == (tx_hash, w3.eth.chain_id)
    nonce = w3.eth.get_transaction_count(CAROL.address)
    assert anchoring.block_publish(height=block.height, w3=w3, private_key=key) == tx_hash
    assert w3.eth.get_transaction_count(CAROL.address) == nonce  # nothing sent twice
    # Recorded once: the trigger refuses to overwrite it.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_block SET evm_tx_hash = %s WHERE height = 1", ["0x" + "00" * 32])
    assert Block.objects.get(height=1).evm_tx_hash == tx_hash


def test_without_configuration_nothing_is_published(settings):
    settings.LEDGER_EVM_RPC_URL = ""
    services.anchor(kind="test.record", subject="r1", payload={})
    block = services.block_seal()
    assert not anchoring.configured()
    assert anchoring.block_publish(height=block.height) is None
