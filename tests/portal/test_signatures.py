"""portal.signatures.verify against real EVM bytecode (py-evm over a local JSON-RPC server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from eth_account.messages import _hash_eip191_message, encode_defunct

from portal.signatures import verify
from tests.chain import LocalChain
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID, legacy_digest_hash, sign_hash
from tests.personas import ALICE, BOB, MALLORY

TEXT = "example.org wants you to sign in with your Ethereum account"
DIGEST = _hash_eip191_message(encode_defunct(text=TEXT))


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def test_eoa_signature_is_verified_without_any_rpc_call(chain_rpc):
    result = verify(address=ALICE.address, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.block_number, result.reason) == (True, "eoa", None, None)
    assert chain_rpc.calls == {}


def test_eoa_signature_verifies_on_a_chain_without_rpc(settings):
    settings.PORTAL_CHAIN_RPC = {}
    result = verify(address=ALICE.address, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=1)
    assert result.ok and result.verified_by == "eoa"


def test_a_strangers_signature_for_an_eoa_is_bad_signature(chain_rpc):
    result = verify(address=ALICE.address, digest=DIGEST, signature=MALLORY.sign_text(TEXT), chain_id=CHAIN_ID)
    assert (result.ok, result.reason) == (False, "bad_signature")
    assert result.block_number is not None  # the chain was asked whether the address has code


def test_erc1271_wallet_accepts_its_owners_signature(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    result = verify(address=wallet, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.chain_id) == (True, "erc1271", CHAIN_ID), result
    assert result.block_number == chain_rpc.w3.eth.block_number


def test_erc1271_wallet_refuses_a_strangers_signature(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    result = verify(address=wallet, digest=DIGEST, signature=MALLORY.sign_text(TEXT), chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.reason) == (False, "erc1271", "bad_signature")


def test_garbage_and_reverting_wallets_are_bad_signature_not_errors(chain_rpc, wallets):
    for wallet in (wallets.garbage(), wallets.reverting()):
        for signature in (ALICE.sign_text(TEXT), "0x", "0x" + "ab" * 200):
            result = verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
            assert (result.ok, result.reason) == (False, "bad_signature"), (wallet, signature)


def test_legacy_safe_style_wallet_is_checked_with_the_bytes_selector(chain_rpc, wallets):
    wallet = wallets.legacy(BOB)
    good = _hex(sign_hash(BOB, legacy_digest_hash(DIGEST)))
    result = verify(address=wallet, digest=DIGEST, signature=good, chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by) == (True, "erc1271")
    bad = _hex(sign_hash(MALLORY, legacy_digest_hash(DIGEST)))
    assert verify(address=wallet, digest=DIGEST, signature=bad, chain_id=CHAIN_ID).reason == "bad_signature"


def test_legacy_wallet_is_also_asked_about_the_message_bytes(chain_rpc, wallets):
    wallet = wallets.legacy(BOB)
    signature = _hex(sign_hash(BOB, legacy_digest_hash(TEXT.encode())))
    assert not verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).ok
    result = verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID, message=TEXT)
    assert (result.ok, result.verified_by) == (True, "erc1271")


def test_counterfactual_wallet_verifies_through_erc6492_without_being_deployed(chain_rpc, wallets):
    address, calldata = wallets.counterfactual(ALICE)
    signature = wallets.wrap(calldata, bytes.fromhex(ALICE.sign_text(TEXT)[2:]))
    result = verify(address=address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.chain_id) == (True, "erc6492", CHAIN_ID)
    assert not chain_rpc.has_code(address)  # the deployless call changed nothing on chain
    assert chain_rpc.calls.get("eth_call") == 1


def test_counterfactual_wallet_refuses_a_strangers_wrapped_signature(chain_rpc, wallets):
    address, calldata = wallets.counterfactual(ALICE)
    signature = wallets.wrap(calldata, bytes.fromhex(MALLORY.sign_text(TEXT)[2:]))
    result = verify(address=address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.reason) == (False, "erc6492", "bad_signature")


def test_erc6492_signature_for_a_different_address_than_the_factory_deploys_is_refused(chain_rpc, wallets):
    _, calldata = wallets.counterfactual(ALICE)
    other, _ = wallets.counterfactual(ALICE)
    signature = wallets.wrap(calldata, bytes.fromhex(ALICE.sign_text(TEXT)[2:]))
    assert verify(address=other, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).reason == "bad_signature"


def test_erc6492_signature_still_verifies_once_the_wallet_is_deployed(chain_rpc, wallets):
    salt = os.urandom(32)
    address, calldata = wallets.counterfactual(ALICE, salt)
    signature = wallets.wrap(calldata, bytes.fromhex(ALICE.sign_text(TEXT)[2:]))
    chain_rpc.transact(wallets.factory, "deploy(address,bytes32)", ("address", ALICE.address), ("bytes32", salt))
    assert chain_rpc.has_code(address)
    assert verify(address=address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).verified_by == "erc6492"
    assert verify(address=address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).ok


def test_contract_wallet_signature_without_rpc_is_unverifiable_naming_the_chain(settings, wallets):
    settings.PORTAL_CHAIN_RPC = {}
    address, calldata = wallets.counterfactual(ALICE)
    signature = wallets.wrap(calldata, bytes.fromhex(ALICE.sign_text(TEXT)[2:]))
    result = verify(address=address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
    assert (result.ok, result.reason) == (False, "contract_wallet_unverifiable")
    assert str(CHAIN_ID) in result.detail
    long_signature = "0x" + "ab" * 130  # two owners' signatures: cannot be an EOA's
    assert verify(address=address, digest=DIGEST, signature=long_signature, chain_id=CHAIN_ID).reason == (
        "contract_wallet_unverifiable"
    )


def test_rpc_down_is_chain_unavailable(settings, wallets):
    down = LocalChain()
    url = down.url
    down.stop()
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: url}
    wallet = wallets.owned(ALICE)
    result = verify(address=wallet, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
    assert (result.ok, result.reason) == (False, "chain_unavailable")
    assert str(CHAIN_ID) in result.detail


def test_rpc_timeout_is_chain_unavailable(settings, wallets):
    stuck = LocalChain(hang=threading.Event())
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: stuck.url}
    settings.PORTAL_CHAIN_RPC_TIMEOUT = 0.2
    try:
        result = verify(address=wallets.garbage(), digest=DIGEST, signature="0x" + "ab" * 70, chain_id=CHAIN_ID)
    finally:
        stuck.stop()
    assert (result.ok, result.reason) == (False, "chain_unavailable")
    assert "timed out" in result.detail


def test_contract_answers_are_cached_per_chain_address_digest_and_signature(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    signature = ALICE.sign_text(TEXT)
    assert verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).ok
    asked = dict(chain_rpc.calls)
    assert verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID).ok
    assert chain_rpc.calls == asked
    assert not verify(address=wallet, digest=bytes(32), signature=signature, chain_id=CHAIN_ID).ok
    assert chain_rpc.calls != asked
    verify(address=wallet, digest=DIGEST, signature=signature, chain_id=CHAIN_ID, use_cache=False)
    assert chain_rpc.calls["eth_blockNumber"] == asked["eth_blockNumber"] + 2


def test_malformed_input_is_bad_signature(chain_rpc):
    for signature in ("", "0x", "garbage", "0xzz", None, 12):
        result = verify(address=ALICE.address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
        assert (result.ok, result.reason) == (False, "bad_signature")
    for address in ("nope", "0x" + "1_" * 20, "0x" + "zz" * 20, None):
        result = verify(address=address, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
        assert result.reason == "bad_signature"


def test_an_eoa_address_in_any_case_verifies_the_same(chain_rpc):
    for address in (ALICE.address, ALICE.address.lower(), "0x" + ALICE.address[2:].upper()):
        assert verify(address=address, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID).ok
    assert chain_rpc.calls == {}


def test_a_node_serving_another_chain_is_chain_unavailable(settings, local_chain, wallets):
    settings.PORTAL_CHAIN_RPC = {1: local_chain.url}  # misconfigured: chain 1 pointed at the test chain
    result = verify(address=wallets.garbage(), digest=DIGEST, signature="0x" + "ab" * 70, chain_id=1)
    assert (result.ok, result.reason) == (False, "chain_unavailable")
    assert f"serves chain {CHAIN_ID}" in result.detail


def _misbehaving_node(local_chain, settings, failing_eth_call: tuple[int, bytes]) -> LocalChain:
    """A node that answers everything like local_chain except eth_call, which answers `failing_eth_call`."""

    def script(request: dict) -> tuple[int, bytes] | None:
        return failing_eth_call if request.get("method") == "eth_call" else None

    node = LocalChain(tester=local_chain.tester, script=script)
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: node.url}
    return node


def _rpc_error(code: int, message: str) -> tuple[int, bytes]:
    return 200, json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    "answer",
    [_rpc_error(-32000, "execution reverted"), _rpc_error(-32000, "out of gas"), _rpc_error(3, "execution reverted")],
)
def test_a_failed_call_is_bad_signature_not_an_outage(settings, local_chain, wallets, answer):
    wallet = wallets.owned(ALICE)
    node = _misbehaving_node(local_chain, settings, answer)
    try:
        result = verify(address=wallet, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
    finally:
        node.stop()
    assert (result.ok, result.reason) == (False, "bad_signature")


@pytest.mark.parametrize(
    "answer",
    [
        (500, b"upstream error"),
        (200, b"<html>not json</html>"),
        (200, b'{"jsonrpc": "2.0", "id": 1}'),
        (200, b'{"jsonrpc": "2.0", "id": 1, "result": 7}'),
        _rpc_error(-32000, "header not found"),
        _rpc_error(-32005, "rate limit exceeded"),
    ],
)
def test_a_failing_node_is_chain_unavailable_never_an_exception(settings, local_chain, wallets, answer):
    wallet = wallets.owned(ALICE)
    node = _misbehaving_node(local_chain, settings, answer)
    try:
        result = verify(address=wallet, digest=DIGEST, signature=ALICE.sign_text(TEXT), chain_id=CHAIN_ID)
    finally:
        node.stop()
    assert (result.ok, result.reason) == (False, "chain_unavailable")
    assert str(CHAIN_ID) in result.detail


def test_a_65_byte_signature_ending_in_the_erc6492_suffix_goes_to_the_validator(chain_rpc):
    signature = "0x" + "11" * 33 + "6492" * 16
    result = verify(address=ALICE.address, digest=DIGEST, signature=signature, chain_id=CHAIN_ID)
    assert (result.ok, result.verified_by, result.reason) == (False, "erc6492", "bad_signature")
    assert chain_rpc.calls.get("eth_call") == 1


def _settings_in_a_fresh_process(env_value: str) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.PORTAL_CHAIN_RPC)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_CHAIN_RPC": env_value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_portal_chain_rpc_is_read_as_chain_id_url_pairs():
    done = _settings_in_a_fresh_process("1=https://node.example/v3/key,31337=http://127.0.0.1:8545")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{1: 'https://node.example/v3/key', 31337: 'http://127.0.0.1:8545'}"
    refused = _settings_in_a_fresh_process("mainnet")
    assert refused.returncode != 0 and "PORTAL_CHAIN_RPC entry 'mainnet' is not CHAIN_ID=URL" in refused.stderr


def test_raise_for_failure_keeps_the_callers_status_for_bad_signature_only(settings):
    from portal.errors import DomainError
    from portal.signatures import Verification

    class InvalidThing(DomainError):
        code, status = "invalid_thing", 400

    assert Verification(True, "eoa", 1).raise_for_failure(InvalidThing).ok
    for reason, status in (("bad_signature", 400), ("contract_wallet_unverifiable", 401), ("chain_unavailable", 503)):
        with pytest.raises(InvalidThing) as caught:
            Verification(False, "erc1271", 1, reason=reason, detail="why").raise_for_failure(InvalidThing)
        assert (caught.value.code, caught.value.status, caught.value.detail) == (reason, status, "why")
