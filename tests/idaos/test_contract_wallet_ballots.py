"""Ballots signed by contract wallets, verified through portal.signatures.verify on the portal's
chain against real EVM bytecode: py-evm behind a JSON-RPC server (tests/chain), reached through
PORTAL_CHAIN_RPC as a production node is."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.utils import timezone

from idaos import eip712
from idaos.models import Ballot, Proposal
from idaos.services import ballots as ballot_service
from idaos.services import membership, proposals
from idaos.tasks import recheck_pending_ballots
from portal.models import User
from tests.chain import LocalChain
from tests.chain.wallets import *  # noqa: F403
from tests.chain.wallets import CHAIN_ID, legacy_digest_hash, sign_hash
from tests.idaos.conftest import make_idao, make_proposal, vote_url
from tests.personas import ALICE, BOB, CAROL, MALLORY, Persona

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _portal_chain_is_the_evm(settings):
    settings.PORTAL_CHAIN_ID = CHAIN_ID


def _message(voter: str, proposal, choice: str = "for", ts: int | None = None) -> dict:
    return {
        "voter": voter,
        "idao": proposal.idao.slug,
        "proposal": proposal.pk,
        "choice": choice,
        "reason": "",
        "timestamp": ts if ts is not None else int(time.time()),
    }


def _digest(message: dict) -> bytes:
    return eip712.fast_digest(message)


def _owner_signs(owner: Persona, message: dict) -> str:
    return owner.sign_typed(eip712.typed_data(message))


def _wallet_member(idao, wallet: str) -> User:
    user = User.objects.get_or_create(address=wallet)[0]
    membership.membership_join(idao=idao, user=user, now=timezone.now() - timezone.timedelta(seconds=5))
    return user


def _open_proposal(*wallets: str):
    """An open proposal of an iDAO whose members include the wallets (members before it opened)."""
    idao = make_idao(members=[BOB])
    for wallet in wallets:
        _wallet_member(idao, wallet)
    return make_proposal(idao)


def _post(user: User, proposal, message: dict, signature: str):
    client = Client()
    client.force_login(user, backend="portal.auth.AddressBackend")
    return client.post(
        vote_url(proposal), json.dumps({"message": message, "signature": signature}), content_type="application/json"
    )


def _assert_accepted(response, verified_by: str, block: bool = True) -> Ballot:
    assert response.status_code == 201, response.content
    body = response.json()["ballot"]
    assert (body["verified_by"], body["verified_chain_id"]) == (verified_by, CHAIN_ID)
    assert (body["verified_block"] is not None) == block
    stored = Ballot.objects.get(pk=body["id"])
    assert (stored.verified_by, stored.verified_chain_id, stored.counted) == (verified_by, CHAIN_ID, True)
    return stored


def _assert_refused(response, proposal, code: str, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code and body["detail"]
    assert not Ballot.objects.filter(proposal=proposal).exists()
    return body


def test_erc1271_wallet_ballot_is_counted_as_erc1271_with_chain_and_block(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    stored = _assert_accepted(
        _post(User.objects.get(address=wallet), proposal, message, _owner_signs(ALICE, message)), "erc1271"
    )
    assert stored.verified_block <= chain_rpc.w3.eth.block_number
    receipt = Client().get(f"/ballots/{stored.pk}").content.decode()
    assert "erc1271" in receipt and str(stored.verified_block) in receipt
    export = Client().get(f"/proposals/{proposal.pk}/ballots.json").json()
    assert [(b["verified_by"], b["verified_chain_id"]) for b in export["ballots"]] == [("erc1271", CHAIN_ID)]


def test_counterfactual_wallet_ballot_is_counted_as_erc6492(chain_rpc, wallets):
    address, calldata = wallets.counterfactual(BOB)
    proposal = _open_proposal(address)
    message = _message(address, proposal)
    signature = wallets.wrap(calldata, sign_hash(BOB, _digest(message)))
    _assert_accepted(_post(User.objects.get(address=address), proposal, message, signature), "erc6492")
    assert not chain_rpc.has_code(address)


def test_safe_style_legacy_wallet_ballot_is_counted_as_erc1271(chain_rpc, wallets):
    wallet = wallets.legacy(CAROL)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    signature = "0x" + sign_hash(CAROL, legacy_digest_hash(_digest(message))).hex()
    _assert_accepted(_post(User.objects.get(address=wallet), proposal, message, signature), "erc1271")


def test_eoa_ballot_is_eoa_and_touches_no_chain(chain_rpc):
    proposal = _open_proposal()
    message = _message(BOB.address, proposal)
    response = _post(User.objects.get(address=BOB.address), proposal, message, _owner_signs(BOB, message))
    _assert_accepted(response, "eoa", block=False)
    assert chain_rpc.calls == {}


def test_strangers_signature_for_a_wallet_ballot_is_bad_signature(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    response = _post(User.objects.get(address=wallet), proposal, message, _owner_signs(MALLORY, message))
    _assert_refused(response, proposal, "bad_signature", 422)


def test_strangers_erc6492_ballot_is_bad_signature(chain_rpc, wallets):
    address, calldata = wallets.counterfactual(BOB)
    proposal = _open_proposal(address)
    message = _message(address, proposal)
    signature = wallets.wrap(calldata, sign_hash(MALLORY, _digest(message)))
    _assert_refused(
        _post(User.objects.get(address=address), proposal, message, signature), proposal, "bad_signature", 422
    )


@pytest.mark.parametrize("kind", ["garbage", "reverting"])
def test_garbage_or_reverting_wallet_ballot_is_bad_signature(chain_rpc, wallets, kind):
    wallet = wallets.garbage() if kind == "garbage" else wallets.reverting()
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    response = _post(User.objects.get(address=wallet), proposal, message, _owner_signs(ALICE, message))
    _assert_refused(response, proposal, "bad_signature", 422)


def test_wallet_ballot_without_an_rpc_is_401_unverifiable_naming_the_chain(settings, wallets):
    settings.PORTAL_CHAIN_RPC = {}
    address, calldata = wallets.counterfactual(BOB)
    proposal = _open_proposal(address)
    message = _message(address, proposal)
    signature = wallets.wrap(calldata, sign_hash(BOB, _digest(message)))
    body = _assert_refused(
        _post(User.objects.get(address=address), proposal, message, signature),
        proposal,
        "contract_wallet_unverifiable",
        401,
    )
    assert str(CHAIN_ID) in body["detail"]
    empty = _assert_refused(
        _post(User.objects.get(address=address), proposal, message, "0x"), proposal, "contract_wallet_unverifiable", 401
    )
    assert str(CHAIN_ID) in empty["detail"]


def test_wallet_ballot_with_the_rpc_down_is_503_and_writes_nothing(settings, local_chain, wallets):
    wallet = wallets.owned(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    signature = _owner_signs(ALICE, message)
    down = LocalChain()
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: down.url}
    down.stop()
    body = _assert_refused(
        _post(User.objects.get(address=wallet), proposal, message, signature), proposal, "chain_unavailable", 503
    )
    assert str(CHAIN_ID) in body["detail"]
    settings.PORTAL_CHAIN_RPC = {CHAIN_ID: local_chain.url}
    _assert_accepted(_post(User.objects.get(address=wallet), proposal, message, signature), "erc1271")


# --- Safes that approve on chain: signature "0x", pending until the wallet validates ------------


def test_on_chain_approval_is_pending_then_counted_by_the_beat_task(chain_rpc, wallets):
    wallet = wallets.approval(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal, "against")
    response = _post(User.objects.get(address=wallet), proposal, message, "0x")
    assert response.status_code == 201, response.content
    body = response.json()["ballot"]
    assert (body["verified_by"], body["counted"], body["signature"]) == ("pending", False, "0x")
    receipt = Client().get(f"/ballots/{body['id']}").content.decode()
    assert "pending" in receipt and "approve" in receipt
    tally = Client().get(f"/api/v1/proposals/{proposal.pk}").json()["tally"]
    assert tally["voters"] == 0
    assert recheck_pending_ballots() == {"pending": 1}  # not approved yet: still pending
    wallets.approve_on_chain(wallet, ALICE, _digest(message))
    assert recheck_pending_ballots() == {"counted": 1}
    stored = Ballot.objects.get(pk=body["id"])
    assert (stored.verified_by, stored.counted, stored.verified_chain_id) == ("erc1271", True, CHAIN_ID)
    assert stored.verified_block is not None
    tally = Client().get(f"/api/v1/proposals/{proposal.pk}").json()["tally"]
    assert tally["voters"] == 1 and tally["against"] == "1"
    assert recheck_pending_ballots() == {}  # nothing left to do: safe to run again


def test_a_ballot_still_pending_at_close_is_not_counted_and_the_receipt_says_so(chain_rpc, wallets):
    approved, never = wallets.approval(ALICE), wallets.approval(CAROL)
    proposal = _open_proposal(approved, never)
    yes, no = _message(approved, proposal, "for"), _message(never, proposal, "against")
    first = _post(User.objects.get(address=approved), proposal, yes, "0x").json()["ballot"]
    second = _post(User.objects.get(address=never), proposal, no, "0x").json()["ballot"]
    wallets.approve_on_chain(approved, ALICE, _digest(yes))
    assert recheck_pending_ballots() == {"counted": 1, "pending": 1}
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now())
    wallets.approve_on_chain(never, CAROL, _digest(no))  # too late: the vote has ended
    assert recheck_pending_ballots() == {}
    assert ballot_service.pending_ballot_recheck(ballot_id=second["id"]) == "closed"
    proposals.proposal_close(proposal_id=proposal.pk)
    closed = Proposal.objects.get(pk=proposal.pk)
    assert closed.tally["voters"] == 1 and closed.tally["for"] == "1" and closed.tally["against"] == "0"
    late = Ballot.objects.get(pk=second["id"])
    assert (late.verified_by, late.counted) == ("pending", False)
    receipt = Client().get(f"/ballots/{late.pk}").content.decode()
    assert "not counted" in receipt and "closed" in receipt
    assert Ballot.objects.get(pk=first["id"]).counted


def test_an_approved_wallets_empty_signature_is_counted_at_once(chain_rpc, wallets):
    wallet = wallets.approval(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    wallets.approve_on_chain(wallet, ALICE, _digest(message))
    _assert_accepted(_post(User.objects.get(address=wallet), proposal, message, "0x"), "erc1271")


def test_an_empty_signature_from_an_address_without_code_is_bad_signature(chain_rpc):
    proposal = _open_proposal()
    message = _message(BOB.address, proposal)
    _assert_refused(
        _post(User.objects.get(address=BOB.address), proposal, message, "0x"), proposal, "bad_signature", 422
    )


def test_someone_elses_wallet_ballot_is_refused_before_any_chain_call(chain_rpc, wallets):
    wallet = wallets.owned(ALICE)
    proposal = _open_proposal(wallet)
    message = _message(wallet, proposal)
    signature = wallets.wrap(b"\x00" * 4, sign_hash(ALICE, _digest(message)))
    chain_rpc.calls.clear()
    response = _post(User.objects.get(address=BOB.address), proposal, message, signature)
    assert response.status_code == 403 and response.json()["error"] == "not_your_ballot"
    assert chain_rpc.calls == {}
