"""Verdicts signed by contract-wallet validators, verified through portal.signatures.verify on the
portal's chain against real EVM bytecode (py-evm behind JSON-RPC, tests/chain)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from quorums import services
from quorums.eip712 import verdict_digest, verdict_typed_data
from quorums.models import QuorumTrust, Verdict
from tests.chain import LocalChain
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID, legacy_digest_hash, sign_hash
from tests.personas import ALICE, BOB, CAROL, MALLORY, Persona
from tests.quorums.factories import PROBE, IdaoFactory, QuorumFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _portal_chain_is_the_evm(settings):
    settings.PORTAL_CHAIN_ID = CHAIN_ID


def _bonded_wallet(quorum, wallet: str, stake: int = 1000):
    from ledger import owners
    from ledger import services as ledger
    from portal.models import User

    ledger.mint(to=owners.user(wallet), asset="LAZ", amount=stake, idempotency_key=f"wallet-fund:{wallet}:{quorum.pk}")
    user = User.objects.get_or_create(address=wallet)[0]
    return services.validator_bond(quorum_id=quorum.pk, user=user, amount=stake)


def _round_with(wallet: str):
    """A round whose whole committee is the wallet (one seat)."""
    idao, quorum = IdaoFactory(), QuorumFactory(committee_size=1)
    QuorumTrust.objects.create(idao=idao, quorum=quorum, active=True)
    _bonded_wallet(quorum, wallet)
    return services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref=wallet, content_hash="0x" + "ab" * 32)


def _typed(wallet: str, r) -> dict:
    return verdict_typed_data(
        validator=wallet, round_id=r.pk, content_hash=r.content_hash, verdict="approve", reason=""
    )


def _digest(typed: dict) -> bytes:
    return bytes.fromhex(verdict_digest(typed)[2:])


def _signed_by_owner(owner: Persona, typed: dict) -> str:
    return owner.sign_typed(typed)


def _post(r, wallet: str, typed: dict, signature: str):
    from portal.models import User

    client = Client()
    client.force_login(User.objects.get(address=wallet), backend="portal.auth.AddressBackend")
    return client.post(
        f"/api/v1/rounds/{r.pk}/verdicts",
        json.dumps({"message": typed["message"], "signature": signature}),
        content_type="application/json",
    )


def _assert_recorded(response, r, verified_by: str) -> Verdict:
    assert response.status_code == 201, response.content
    verdict = Verdict.objects.get(round=r)
    assert (verdict.verified_by, verdict.verified_chain_id) == (verified_by, CHAIN_ID)
    assert (verdict.verified_block is None) == (verified_by == "eoa")
    shown = Client().get(f"/api/v1/rounds/{r.pk}")
    assert shown.status_code == 200, shown.content
    [v] = shown.json()["verdicts"]
    assert (v["verified_by"], v["verified_chain_id"], v["verified_block"]) == (
        verified_by,
        CHAIN_ID,
        verdict.verified_block,
    )
    return verdict


def _assert_refused(response, r, code: str, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code and body["detail"]
    assert not Verdict.objects.filter(round=r).exists()
    return body


def test_erc1271_validator_verdict_is_recorded_as_erc1271(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    r = _round_with(wallet)
    typed = _typed(wallet, r)
    _assert_recorded(_post(r, wallet, typed, _signed_by_owner(ALICE, typed)), r, "erc1271")


def test_counterfactual_validator_verdict_is_recorded_as_erc6492(chain_rpc, wallets):
    address, calldata = wallets.counterfactual(BOB)
    r = _round_with(address)
    typed = _typed(address, r)
    signature = wallets.wrap(calldata, sign_hash(BOB, _digest(typed)))
    _assert_recorded(_post(r, address, typed, signature), r, "erc6492")


def test_legacy_safe_validator_verdict_is_recorded_as_erc1271(chain_rpc, wallets):
    wallet = wallets.legacy(CAROL)
    r = _round_with(wallet)
    typed = _typed(wallet, r)
    signature = "0x" + sign_hash(CAROL, legacy_digest_hash(_digest(typed))).hex()
    _assert_recorded(_post(r, wallet, typed, signature), r, "erc1271")


def test_eoa_validator_verdict_is_eoa_with_no_chain_call(chain_rpc):
    r = _round_with(BOB.address)
    typed = _typed(BOB.address, r)
    _assert_recorded(_post(r, BOB.address, typed, BOB.sign_typed(typed)), r, "eoa")
    assert chain_rpc.calls == {}


def test_strangers_signature_for_a_wallet_verdict_is_bad_signature(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    r = _round_with(wallet)
    typed = _typed(wallet, r)
    _assert_refused(_post(r, wallet, typed, _signed_by_owner(MALLORY, typed)), r, "bad_signature", 422)


@pytest.mark.parametrize("kind", ["garbage", "reverting"])
def test_garbage_or_reverting_wallet_verdict_is_bad_signature(chain_rpc, wallets, kind):
    wallet = wallets.garbage() if kind == "garbage" else wallets.reverting()
    r = _round_with(wallet)
    typed = _typed(wallet, r)
    _assert_refused(_post(r, wallet, typed, _signed_by_owner(ALICE, typed)), r, "bad_signature", 422)


def test_wallet_verdict_without_an_rpc_is_401_unverifiable_naming_the_chain(settings, wallets):
    settings.PORTAL_CHAIN_RPC = {}
    address, calldata = wallets.counterfactual(BOB)
    r = _round_with(address)
    typed = _typed(address, r)
    signature = wallets.wrap(calldata, sign_hash(BOB, _digest(typed)))
    body = _assert_refused(_post(r, address, typed, signature), r, "contract_wallet_unverifiable", 401)
    assert str(CHAIN_ID) in body["detail"]


def test_wallet_verdict_with_the_rpc_down_is_503_and_writes_nothing(settings, local_chain, wallets):
    wallet = wallets.owned(ALICE)
    r = _round_with(wallet)
    typed = _typed(wallet, r)
    signature = _signed_by_owner(ALICE, typed)
    down = LocalChain()
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: down.url}
    down.stop()
    body = _assert_refused(_post(r, wallet, typed, signature), r, "chain_unavailable", 503)
    assert str(CHAIN_ID) in body["detail"]
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: local_chain.url}
    _assert_recorded(_post(r, wallet, typed, signature), r, "erc1271")


def test_a_batch_records_the_wallet_verdict_and_refuses_the_unverifiable_one_alone(settings, chain_rpc, wallets):
    good, bad = wallets.owned(ALICE), wallets.owned(CAROL)
    r1, r2 = _round_with(good), _round_with(bad)
    t1, t2 = _typed(good, r1), _typed(bad, r2)
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: chain_rpc.url}
    results = services.verdicts_submit(
        items=[
            {"round_id": r1.pk, "message": t1["message"], "signature": _signed_by_owner(ALICE, t1)},
            {"round_id": r2.pk, "message": t2["message"], "signature": _signed_by_owner(MALLORY, t2)},
        ]
    )
    assert results[0].verdict.verified_by == "erc1271"
    assert results[1].code == "bad_signature"
    assert Verdict.objects.filter(round=r1).exists() and not Verdict.objects.filter(round=r2).exists()
