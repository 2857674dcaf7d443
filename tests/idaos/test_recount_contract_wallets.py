"""The offline recount (`idaos.recount`, `manage.py recount … --rpc URL`) re-verifies
contract-wallet ballots through portal.signatures.verify against a real EVM (py-evm behind
JSON-RPC, tests/chain), and names the ballots that need an RPC when given none."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from idaos import recount
from portal.models import User
from tests.chain import LocalChain
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID, sign_hash
from tests.idaos.test_contract_wallet_ballots import _digest, _message, _open_proposal, _owner_signs, _post
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _portal_chain_is_the_evm(settings):
    settings.PORTAL_CHAIN_ID = CHAIN_ID


@pytest.fixture
def wallet_export(chain_rpc, wallets):
    """An open proposal's export with an EOA ballot, an ERC-1271 ballot, an ERC-6492 ballot and a
    pending one (a wallet that never approved on chain)."""
    owned = wallets.owned(ALICE)
    counterfactual, calldata = wallets.counterfactual(CAROL)
    never = wallets.approval(ALICE)
    proposal = _open_proposal(owned, counterfactual, never)
    eoa_msg, owned_msg = _message(BOB.address, proposal, "for"), _message(owned, proposal, "against")
    cf_msg, never_msg = _message(counterfactual, proposal, "for"), _message(never, proposal, "abstain")
    ids = {}
    for name, voter, message, signature in [
        ("eoa", BOB.address, eoa_msg, _owner_signs(BOB, eoa_msg)),
        ("erc1271", owned, owned_msg, _owner_signs(ALICE, owned_msg)),
        ("erc6492", counterfactual, cf_msg, wallets.wrap(calldata, sign_hash(CAROL, _digest(cf_msg)))),
        ("pending", never, never_msg, "0x"),
    ]:
        response = _post(User.objects.get(address=voter), proposal, message, signature)
        assert response.status_code == 201, response.content
        assert response.json()["ballot"]["verified_by"] == name
        ids[name] = response.json()["ballot"]["id"]
    export = Client().get(f"/proposals/{proposal.pk}/ballots.json").json()
    return export, ids


def test_recount_with_rpc_reverifies_contract_wallet_ballots_on_the_evm(wallet_export, chain_rpc):
    export, _ = wallet_export
    chain_rpc.calls.clear()
    report = recount.recount(export, rpc=chain_rpc.url)
    assert (report.ballots, report.valid, report.counted) == (4, 3, 3)
    assert chain_rpc.calls.get("eth_call", 0) >= 2  # the ERC-1271 and the ERC-6492 ballots, on chain
    assert any("1 pending ballot" in line for line in report.checks)


def test_recount_without_rpc_names_the_contract_wallet_ballots_that_need_one(wallet_export):
    export, ids = wallet_export
    with pytest.raises(recount.NeedsRpc, match=r"--rpc URL") as raised:
        recount.recount(export)
    assert sorted(raised.value.ballot_ids) == sorted([ids["erc1271"], ids["erc6492"]])


def test_recount_with_an_unreachable_rpc_fails_naming_the_wallet(wallet_export):
    export, ids = wallet_export
    down = LocalChain()
    url = down.url
    down.stop()
    voter = next(b["voter"] for b in export["ballots"] if b["id"] == ids["erc1271"])
    with pytest.raises(recount.Mismatch, match=rf"the wallet {voter} could not be checked on chain {CHAIN_ID}"):
        recount.recount(export, rpc=url)


def test_recount_with_a_node_of_another_chain_fails(wallet_export, chain_rpc):
    export, _ = wallet_export
    tampered = copy.deepcopy(export)
    tampered["eip712"]["domain"]["chainId"] = 1  # the node serves CHAIN_ID, not chain 1
    with pytest.raises(recount.Mismatch):
        recount.recount(tampered, rpc=chain_rpc.url)


def test_a_contract_wallet_ballot_whose_signature_was_swapped_fails(wallet_export, chain_rpc):
    export, ids = wallet_export
    tampered = copy.deepcopy(export)
    ballot = next(b for b in tampered["ballots"] if b["id"] == ids["erc1271"])
    ballot["signature"] = "0x" + sign_hash(BOB, bytes.fromhex(ballot["digest"][2:])).hex()
    with pytest.raises(recount.Mismatch, match=rf"ballot {ids['erc1271']}: the wallet .* does not accept"):
        recount.recount(tampered, rpc=chain_rpc.url)


def test_a_pending_ballot_marked_counted_fails(wallet_export, chain_rpc):
    export, ids = wallet_export
    tampered = copy.deepcopy(export)
    next(b for b in tampered["ballots"] if b["id"] == ids["pending"])["counted"] = True
    with pytest.raises(recount.Mismatch, match=rf"ballot {ids['pending']}: pending"):
        recount.recount(tampered, rpc=chain_rpc.url)


def test_recount_command_offline_uses_rpc_for_contract_wallet_ballots(wallet_export, chain_rpc, tmp_path):
    export, ids = wallet_export
    path = tmp_path / f"proposal-{export['proposal']['id']}.json"
    path.write_text(json.dumps(export))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    manage = str(Path(django_settings.BASE_DIR) / "manage.py")

    def run(*args):
        return subprocess.run(
            [sys.executable, manage, "recount", *args], env=env, capture_output=True, text=True, timeout=120
        )

    without = run(str(path))
    assert without.returncode == 2 and "INCOMPLETE" in without.stderr and "--rpc" in without.stderr
    assert str(ids["erc1271"]) in without.stderr and str(ids["erc6492"]) in without.stderr
    ok = run(str(path), "--rpc", chain_rpc.url)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"PASS: proposal {export['proposal']['id']}: 4 ballots (3 counted, 1 superseded)")
