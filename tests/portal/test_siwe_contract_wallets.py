"""Sign-In with Ethereum for contract wallets, against real EVM bytecode: the portal reaches a
py-evm chain over JSON-RPC through PORTAL_CHAIN_RPC, as it reaches a node in production."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.models import SiweNonce, User
from portal.siwe import eip191_digest
from tests.chain import LocalChain
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID, legacy_digest_hash, sign_hash
from tests.personas import ALICE, BOB, MALLORY
from tests.siwe_helpers import siwe_message

pytestmark = pytest.mark.django_db


def _message(client: Client, address: str) -> str:
    nonce = client.get("/auth/siwe/nonce").json()["nonce"]
    return siwe_message(address=address, nonce=nonce, chain_id=CHAIN_ID)


def _verify(client: Client, text: str, signature: str):
    return client.post(
        "/auth/siwe/verify",
        {"message": text, "signature": signature},
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )


def _assert_signed_in(client: Client, response, address: str, verified_by: str) -> None:
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["address"], body["verified_by"], body["chain_id"]) == (address, verified_by, CHAIN_ID)
    assert client.get("/auth/me").json()["address"] == address
    assert User.objects.filter(address=address).exists()


def _assert_refused(response, code: str, status: int = 401) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code and body["detail"]
    assert not User.objects.exists()
    assert SiweNonce.objects.filter(used_at__isnull=True).count() == 1  # the nonce was not burnt
    return body


def test_erc1271_wallet_signs_in_with_its_owners_signature(csrf_client, chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    _assert_signed_in(csrf_client, _verify(csrf_client, text, ALICE.sign_text(text)), wallet, "erc1271")


def test_counterfactual_wallet_signs_in_through_erc6492(csrf_client, chain_rpc, wallets):
    address, calldata = wallets.counterfactual(BOB)
    text = _message(csrf_client, address)
    signature = wallets.wrap(calldata, bytes.fromhex(BOB.sign_text(text)[2:]))
    _assert_signed_in(csrf_client, _verify(csrf_client, text, signature), address, "erc6492")
    assert not chain_rpc.has_code(address)


def test_safe_style_legacy_wallet_signs_in(csrf_client, chain_rpc, wallets):
    wallet = wallets.legacy(BOB)
    text = _message(csrf_client, wallet)
    signature = "0x" + sign_hash(BOB, legacy_digest_hash(eip191_digest(text))).hex()
    _assert_signed_in(csrf_client, _verify(csrf_client, text, signature), wallet, "erc1271")


def test_eoa_signs_in_as_eoa_without_touching_the_chain(csrf_client, chain_rpc):
    nonce = csrf_client.get("/auth/siwe/nonce").json()["nonce"]
    text = siwe_message(address=ALICE.address, nonce=nonce, chain_id=CHAIN_ID)
    _assert_signed_in(csrf_client, _verify(csrf_client, text, ALICE.sign_text(text)), ALICE.address, "eoa")
    assert chain_rpc.calls == {}


def test_strangers_signature_for_a_contract_wallet_is_bad_signature(csrf_client, chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    _assert_refused(_verify(csrf_client, text, MALLORY.sign_text(text)), "bad_signature")


def test_strangers_erc6492_signature_is_bad_signature(csrf_client, chain_rpc, wallets):
    address, calldata = wallets.counterfactual(BOB)
    text = _message(csrf_client, address)
    signature = wallets.wrap(calldata, bytes.fromhex(MALLORY.sign_text(text)[2:]))
    _assert_refused(_verify(csrf_client, text, signature), "bad_signature")


@pytest.mark.parametrize("kind", ["garbage", "reverting"])
def test_garbage_or_reverting_wallet_is_bad_signature_not_500(csrf_client, chain_rpc, wallets, kind):
    wallet = wallets.garbage() if kind == "garbage" else wallets.reverting()
    text = _message(csrf_client, wallet)
    _assert_refused(_verify(csrf_client, text, ALICE.sign_text(text)), "bad_signature")


def test_contract_wallet_on_a_chain_without_rpc_is_unverifiable_naming_the_chain(csrf_client, settings, wallets):
    settings.PORTAL_CHAIN_RPC = {}
    address, calldata = wallets.counterfactual(BOB)
    text = _message(csrf_client, address)
    signature = wallets.wrap(calldata, bytes.fromhex(BOB.sign_text(text)[2:]))
    body = _assert_refused(_verify(csrf_client, text, signature), "contract_wallet_unverifiable")
    assert str(CHAIN_ID) in body["detail"]


def test_rpc_down_is_503_and_the_nonce_stays_usable(csrf_client, settings, local_chain, wallets):
    wallet = wallets.owned(ALICE)
    down = LocalChain()
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: down.url}
    down.stop()
    text = _message(csrf_client, wallet)
    signature = ALICE.sign_text(text)
    body = _assert_refused(_verify(csrf_client, text, signature), "chain_unavailable", 503)
    assert str(CHAIN_ID) in body["detail"]
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: local_chain.url}
    _assert_signed_in(csrf_client, _verify(csrf_client, text, signature), wallet, "erc1271")


def test_contract_wallet_session_ends_when_the_wallet_rotates_its_owner(csrf_client, settings, chain_rpc, wallets):
    settings.PORTAL_CONTRACT_SESSION_RECHECK_SECONDS = 0
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    _assert_signed_in(csrf_client, _verify(csrf_client, text, ALICE.sign_text(text)), wallet, "erc1271")
    checks = chain_rpc.calls["eth_call"]
    assert csrf_client.get("/auth/me").status_code == 200
    assert chain_rpc.calls["eth_call"] > checks  # re-checked against the live wallet, not the cache
    chain_rpc.tester.add_account("0x" + ALICE.account.key.hex().removeprefix("0x"))
    chain_rpc.fund(ALICE.address)
    chain_rpc.transact(wallet, "set_owner(address)", ("address", BOB.address), sender=ALICE.address)
    assert csrf_client.get("/auth/me").status_code == 401
    assert csrf_client.get("/auth/me").status_code == 401  # the session is gone, not just skipped


def test_contract_wallet_session_is_not_rechecked_before_the_interval(csrf_client, settings, chain_rpc, wallets):
    settings.PORTAL_CONTRACT_SESSION_RECHECK_SECONDS = 3600
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    _assert_signed_in(csrf_client, _verify(csrf_client, text, ALICE.sign_text(text)), wallet, "erc1271")
    asked = dict(chain_rpc.calls)
    for _ in range(3):
        assert csrf_client.get("/auth/me").status_code == 200
    assert chain_rpc.calls == asked


def test_contract_wallet_session_survives_a_chain_outage(csrf_client, settings, chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    _assert_signed_in(csrf_client, _verify(csrf_client, text, ALICE.sign_text(text)), wallet, "erc1271")
    settings.PORTAL_CONTRACT_SESSION_RECHECK_SECONDS = 0
    down = LocalChain()
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: down.url}
    down.stop()
    assert csrf_client.get("/auth/me").status_code == 200


def test_a_used_nonce_is_refused_before_any_chain_call(csrf_client, chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    text = _message(csrf_client, wallet)
    signature = ALICE.sign_text(text)
    assert _verify(csrf_client, text, signature).status_code == 200
    asked = dict(chain_rpc.calls)
    other = Client(enforce_csrf_checks=True)
    other.get("/auth/siwe/nonce")
    response = _verify(other, text, "0x" + "ab" * 70)
    assert response.json()["error"] == "nonce_used"
    assert chain_rpc.calls == asked
