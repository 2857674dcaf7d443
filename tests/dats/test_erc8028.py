"""DATs mirrored as ERC-8028 tokens on py-evm: the contract's views, the ERC-8028 read API and
`manage.py verify_chain` agree for a minted, transferred and revoked DAT; a chain made to differ
is named DAT by DAT."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from eth_abi import decode, encode

from dats import erc8028
from dats.services import access_request, dat_revoke, dat_transfer
from ledger import services as ledger_services
from ledger.models_onchain import ChainTx, ChainTxState
from tests.chain import selector
from tests.chain.onchain import *  # noqa: F403
from tests.chain.onchain import PUBLISHER
from tests.dats.factories import credit, make_idao, minted, token_for, user_owner
from tests.factories import user_of
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def contract_views(onchain, token_id: int) -> dict:
    def view(signature: str, kind: str):
        return decode([kind], onchain.chain.call(onchain.token, signature, ("uint256", token_id)))[0]

    return {
        "tokenId": token_id,
        "owner": view("ownerOf(uint256)", "address"),
        "classId": view("classOf(uint256)", "uint256"),
        "value": str(view("valueOf(uint256)", "uint256")),
        "shareRatio": view("shareRatioOf(uint256)", "uint256"),
        "expireAt": view("expireAtOf(uint256)", "uint256"),
        "used": view("usedOf(uint256)", "uint256"),
        "integrityHash": "0x" + view("integrityHashOf(uint256)", "bytes32").hex(),
        "policyURI": view("policyURIOf(uint256)", "string"),
        "revoked": view("isRevoked(uint256)", "bool"),
    }


def verify_chain() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_chain", stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_a_minted_transferred_and_revoked_dat_reads_the_same_on_chain_and_through_the_api(onchain, client):
    idao = make_idao(ALICE)
    dat = minted(idao, ALICE, policy={"allowed_uses": ["training"], "price": 10, "quota": 5})
    ledger_services.block_seal()
    onchain.publish()
    onchain.publish()
    rows = list(ChainTx.objects.values_list("purpose", "state", "error"))
    assert ChainTx.objects.filter(purpose="erc8028.mint", state=ChainTxState.CONFIRMED).count() == 1, rows
    api = client.get(f"/api/v1/erc8028/tokens/{dat.pk}").json()
    chain = contract_views(onchain, dat.pk)
    assert chain["owner"].lower() == api["owner"].lower() == ALICE.address.lower()
    assert {**chain, "owner": api["owner"]} == api
    assert api["integrityHash"] == dat.keccak256

    _, token = token_for(CAROL)
    credit(user_owner(CAROL), 100)
    for key in ("g1", "g2"):
        access_request(dat_id=dat.pk, token=token, use="training", idempotency_key=key)
    dat_transfer(dat_id=dat.pk, actor=user_of(ALICE), to_address=BOB.address)
    dat_revoke(dat_id=dat.pk, actor=user_of(BOB))
    onchain.publish()
    onchain.publish()
    api = client.get(f"/api/v1/erc8028/tokens/{dat.pk}").json()
    chain = contract_views(onchain, dat.pk)
    assert api["owner"] == BOB.address and api["revoked"] is True and api["used"] == 2 and api["value"] == "5"
    assert {**chain, "owner": api["owner"]} == api
    assert chain["owner"].lower() == BOB.address.lower()

    klass = client.get(f"/api/v1/erc8028/classes/{api['classId']}").json()
    ((name, uri, digest, policy),) = decode(
        ["(string,string,bytes32,string)"],
        onchain.chain.call(onchain.token, "classes(uint256)", ("uint256", api["classId"])),
    )
    assert klass == {
        "classId": api["classId"],
        "name": name,
        "metadataURI": uri,
        "integrityHash": "0x" + digest.hex(),
        "policyURI": policy,
    }
    policy_doc = client.get(api["policyURI"])
    assert policy_doc.status_code == 200 and policy_doc.json()["policy"]["revoked"] is True

    feed = client.get("/api/v1/erc8028/events").json()
    assert [e["event"] for e in feed["events"]] == [
        "Minted",
        "UsageRecorded",
        "UsageRecorded",
        "TransferToken",
        "Revoked",
    ]
    assert ChainTx.objects.filter(purpose="erc8028.usage", state=ChainTxState.CONFIRMED).count() == 1
    first = client.get("/api/v1/erc8028/events?limit=2").json()
    rest = client.get(f"/api/v1/erc8028/events?after={first['next']}&limit=10").json()
    assert first["events"] + rest["events"] == feed["events"] and rest["next"] is None
    assert client.get("/api/v1/erc8028/events?limit=0").status_code == 422
    assert all(e["tokenId"] == dat.pk for e in feed["events"])
    assert client.get(f"/api/v1/erc8028/tokens/{dat.pk + 999}").json()["error"] == "dat_not_found"

    code, out = verify_chain()
    assert code == 0, out
    assert "chain matches the portal" in out


def test_verify_chain_names_the_dat_when_the_chain_differs(onchain):
    idao = make_idao(ALICE)
    first, second = minted(idao, ALICE), minted(idao, ALICE)
    onchain.publish()
    onchain.publish()
    assert verify_chain()[0] == 0
    # The operator key writes something the portal never said: the chain now differs for `second`.
    data = selector("transferToken(uint256,address)") + encode(["uint256", "address"], [second.pk, BOB.address])
    signed = PUBLISHER.sign_transaction(
        {
            "chainId": onchain.chain.w3.eth.chain_id,
            "to": onchain.token,
            "data": data,
            "gas": 200_000,
            "nonce": onchain.chain.w3.eth.get_transaction_count(PUBLISHER.address),
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    onchain.chain.w3.eth.send_raw_transaction(signed.raw_transaction)
    code, out = verify_chain()
    assert code == 1
    assert f"DAT #{second.pk}: owner is" in out
    assert f"DAT #{first.pk}" not in out


def test_the_erc8028_api_works_without_a_chain(client, settings):
    settings.LEDGER_ANCHOR_CHAIN_ID = 0
    dat = minted(make_idao(ALICE), ALICE)
    token = client.get(f"/api/v1/erc8028/tokens/{dat.pk}").json()
    assert token["tokenId"] == dat.pk and token["value"] == str(erc8028.NO_LIMIT if dat.quota is None else dat.quota)
    assert client.get(f"/api/v1/erc8028/classes/{token['classId']}").status_code == 200
    assert client.get("/api/v1/erc8028/classes/1").json()["error"] == "class_not_found"
    assert not ChainTx.objects.exists()


def test_verify_bundle_checks_the_chain_anchor_with_rpc_and_says_not_checked_offline(onchain, tmp_path):
    import json

    from dats import bundles

    dat = minted(make_idao(ALICE), ALICE)
    ledger_services.block_seal()
    onchain.publish()
    onchain.publish()
    bundle = bundles.export(dat.pk)
    anchor = bundle["dats"][0]["mint"]["chainAnchor"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    out = io.StringIO()
    call_command("verify_bundle", str(path), stdout=out)
    assert f"anchored on chain {anchor['chainId']} in tx {anchor['txHash']}" in out.getvalue()
    assert "not checked" in out.getvalue()
    out = io.StringIO()
    call_command("verify_bundle", str(path), "--rpc", onchain.chain.url, stdout=out)
    assert "checked on chain: contract" in out.getvalue()
    # The same bundle with the anchored root changed: no longer valid offline nor on chain.
    for proof in [bundle["dats"][0]["mint"], bundle["dats"][0]["round"]]:
        proof["chainAnchor"]["rootOfRoots"] = "0x" + "ee" * 32
    path.write_text(json.dumps(bundle))
    with pytest.raises(SystemExit):
        call_command("verify_bundle", str(path), "--rpc", onchain.chain.url, stdout=io.StringIO(), stderr=io.StringIO())
