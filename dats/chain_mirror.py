"""The ERC-8028 mirror: each DAT's token view (dats.erc8028) is published to the
DataAnchoringToken contract through the chain outbox (ledger.outbox), and `manage.py
verify_chain` compares the contract's views with the portal. Registered into ledger.outbox in
DatsConfig.ready(); does nothing unless DATS_ERC8028_CONTRACT and the publisher are configured."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from eth_abi import decode, encode

from ledger import merkle, outbox
from ledger.models_onchain import ChainSender
from ledger.onchain import selector
from portal import chains

from . import erc8028
from .models import DAT, Erc8028ClassMirror, Erc8028Mirror

BATCH = 500
VIEWS = (
    ("owner", "ownerOf(uint256)", "address"),
    ("classId", "classOf(uint256)", "uint256"),
    ("value", "valueOf(uint256)", "uint256"),
    ("shareRatio", "shareRatioOf(uint256)", "uint256"),
    ("expireAt", "expireAtOf(uint256)", "uint256"),
    ("used", "usedOf(uint256)", "uint256"),
    ("integrityHash", "integrityHashOf(uint256)", "bytes32"),
    ("policyURI", "policyURIOf(uint256)", "string"),
    ("revoked", "isRevoked(uint256)", "bool"),
)


def contract_address() -> str:
    return str(getattr(settings, "DATS_ERC8028_CONTRACT", "") or "")


def _call(signature: str, types: list[str], values: list) -> bytes:
    return selector(signature) + encode(types, values)


def _ops(prior: dict | None, view: dict) -> list[tuple[str, bytes]]:
    """The contract calls that turn the mirrored `prior` into `view`."""
    token = view["tokenId"]
    if prior is None:
        calls = [
            (
                "mint",
                _call(
                    "mint(address,uint256,uint256,uint256,uint256,uint256,bytes32,string)",
                    ["address", "uint256", "uint256", "uint256", "uint256", "uint256", "bytes32", "string"],
                    [
                        view["owner"],
                        token,
                        view["classId"],
                        int(view["value"]),
                        view["shareRatio"],
                        view["expireAt"],
                        merkle.from_hex(view["integrityHash"]),
                        view["policyURI"],
                    ],
                ),
            )
        ]
        prior = {**view, "used": 0, "revoked": False}
    else:
        calls = []
    if prior["owner"] != view["owner"]:
        calls.append(
            ("transfer", _call("transferToken(uint256,address)", ["uint256", "address"], [token, view["owner"]]))
        )
    if (prior["policyURI"], prior["value"], prior["expireAt"]) != (view["policyURI"], view["value"], view["expireAt"]):
        calls.append(
            (
                "policy",
                _call(
                    "updatePolicy(uint256,string,uint256,uint256)",
                    ["uint256", "string", "uint256", "uint256"],
                    [token, view["policyURI"], int(view["value"]), view["expireAt"]],
                ),
            )
        )
    if view["revoked"] and not prior["revoked"]:
        calls.append(("revoke", _call("revoke(uint256)", ["uint256"], [token])))
    if view["used"] > prior["used"]:
        calls.append(
            (
                "usage",
                _call("recordUsage(uint256,uint256)", ["uint256", "uint256"], [token, view["used"] - prior["used"]]),
            )
        )
    return calls


def _ensure_class(*, pub: outbox.Publisher, sender: ChainSender, contract: str, dat: DAT) -> None:
    class_id = erc8028.class_id_of(dat.idao_id, dat.klass)
    try:
        with transaction.atomic():
            Erc8028ClassMirror.objects.create(chain_id=pub.chain_id, contract=contract, class_id=class_id)
            view = erc8028.class_view(class_id=class_id, idao_slug=dat.idao.slug, klass=dat.klass)
            outbox.outbox_enqueue(
                sender=sender,
                key=f"erc8028:{pub.chain_id}:{contract}:class:{class_id}",
                purpose="erc8028.class",
                to=contract,
                data=_call(
                    "createClass(uint256,string,string,bytes32,string)",
                    ["uint256", "string", "string", "bytes32", "string"],
                    [
                        class_id,
                        view["name"],
                        view["metadataURI"],
                        merkle.from_hex(view["integrityHash"]),
                        view["policyURI"],
                    ],
                ),
            )
    except IntegrityError:
        pass  # already created (or being created by a racing publisher)


def mirror_plan(*, pub: outbox.Publisher, sender: ChainSender, now: datetime) -> int:
    """Enqueue what changed since the last pass: new DATs (mint), and DATs whose events or usage
    moved past what was mirrored. Returns how many DATs were brought up to date."""
    contract = contract_address()
    if not contract:
        return 0
    changed = (
        DAT.objects.annotate(last_seq=Coalesce(Max("events__seq"), 0))
        .filter(
            Q(erc8028_mirror__isnull=True)
            | ~Q(erc8028_mirror__seen_used=F("used"))
            | Q(last_seq__gt=F("erc8028_mirror__seen_seq"))
        )
        .select_related("owner", "idao")
        .order_by("id")[:BATCH]
    )
    done = 0
    for dat in changed:
        _ensure_class(pub=pub, sender=sender, contract=contract, dat=dat)
        view = erc8028.token_view(dat)
        try:
            with transaction.atomic():
                mirror, _ = Erc8028Mirror.objects.select_for_update().get_or_create(
                    dat=dat, defaults={"chain_id": pub.chain_id, "contract": contract, "state": {}}
                )
                prior = mirror.state or None
                for op, data in _ops(prior, view):
                    mirror.ops += 1
                    outbox.outbox_enqueue(
                        sender=sender,
                        key=f"erc8028:{pub.chain_id}:{contract}:{dat.pk}:{mirror.ops}:{op}",
                        purpose=f"erc8028.{op}",
                        to=contract,
                        data=data,
                    )
                mirror.state, mirror.seen_seq, mirror.seen_used = view, dat.last_seq, dat.used
                mirror.save(update_fields=["state", "ops", "seen_seq", "seen_used"])
        except IntegrityError:
            continue  # a racing publisher created the mirror row first: the next pass looks again
        done += 1
    return done


def _view(rpc: chains.RpcClient, contract: str, signature: str, kind: str, token: int):
    data = "0x" + (selector(signature) + encode(["uint256"], [token])).hex()
    try:
        answer = rpc.request("eth_call", [{"to": contract, "data": data}, "latest"])
    except chains.CallReverted:
        return None
    return decode([kind], bytes.fromhex(str(answer)[2:]))[0]


def chain_differences(*, pub: outbox.Publisher) -> list[str]:
    """One line per DAT whose contract views differ from the portal (naming the DAT and field)."""
    contract = contract_address()
    if not contract:
        return []
    lines: list[str] = []
    for dat in DAT.objects.select_related("owner", "idao").order_by("id").iterator(chunk_size=500):
        view = erc8028.token_view(dat)
        owner = _view(pub.rpc, contract, "ownerOf(uint256)", "address", dat.pk)
        if owner is None:
            lines.append(f"DAT #{dat.pk}: not minted on chain {pub.chain_id} at {contract}")
            continue
        for name, signature, kind in VIEWS:
            on_chain = owner if name == "owner" else _view(pub.rpc, contract, signature, kind, dat.pk)
            portal = view[name]
            if kind == "bytes32":
                on_chain = merkle.to_hex(on_chain)
            elif kind == "address":
                on_chain, portal = str(on_chain).lower(), str(portal).lower()
            elif name == "value":
                on_chain = str(on_chain)
            if on_chain != portal:
                lines.append(f"DAT #{dat.pk}: {name} is {on_chain!r} on chain, {portal!r} in the portal")
    return lines
