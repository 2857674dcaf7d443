"""The LedgerAnchor contract path: plan publications from sealed blocks, attach the chain anchor
to proof bundles, check an anchor against the chain. Planning only reads blocks (the sealer is
not involved); a publication is a row in the chain outbox (ledger.outbox)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from portal import chains

from . import merkle, outbox
from .models import Block
from .models_onchain import AnchorPublication, ChainTxState

ANCHOR_ENCODING = ("uint256", "bytes32")  # one leaf per block: (height, blockHash)
ANCHOR_FORMAT = "idao-ledger-anchor/1"
BUILD = Path(__file__).resolve().parents[1] / "contracts" / "build" / "onchain.json"
ANCHOR_SIGNATURE = "anchor(uint256,uint256,bytes32,bytes32)"
ANCHORED_EVENT = "Anchored(uint256,bytes32,uint256,uint256,bytes32)"


@lru_cache(maxsize=1)
def build() -> dict:
    """contracts/build/onchain.json: the committed ABI and bytecode."""
    return json.loads(BUILD.read_text())


def selector(signature: str) -> bytes:
    return merkle.keccak(signature.encode())[:4]


def anchor_leaf(height: int, block_hash: bytes) -> bytes:
    return merkle.leaf_hash(ANCHOR_ENCODING, [height, block_hash])


def root_of_roots(blocks: list[tuple[int, str]]) -> bytes:
    return merkle.root_of([anchor_leaf(h, merkle.from_hex(bh)) for h, bh in blocks])


def enabled() -> bool:
    return bool(getattr(settings, "LEDGER_ANCHOR_CHAIN_ID", 0))


def public_rpc() -> str:
    """The JSON-RPC URL the browser's Verify button may ask (LEDGER_ANCHOR_PUBLIC_RPC), or ""."""
    return str(getattr(settings, "LEDGER_ANCHOR_PUBLIC_RPC", "") or "")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def contract_address() -> str:
    return str(getattr(settings, "LEDGER_ANCHOR_CONTRACT", "") or "")


def anchors_plan(*, pub: outbox.Publisher, now: datetime) -> list[AnchorPublication]:
    """Plan publications for the sealed blocks not yet anchored: one when LEDGER_ANCHOR_EVERY_BLOCKS
    are waiting or the oldest has waited LEDGER_ANCHOR_EVERY_SECONDS, each covering at most
    LEDGER_ANCHOR_MAX_BLOCKS. Racing planners meet at the (contract, fromHeight) unique index."""
    contract = contract_address()
    if not contract:
        return []
    sender = outbox.sender_get(pub)
    planned: list[AnchorPublication] = []
    every_blocks = max(1, int(settings.LEDGER_ANCHOR_EVERY_BLOCKS))
    every_seconds = float(settings.LEDGER_ANCHOR_EVERY_SECONDS)
    most = max(1, int(settings.LEDGER_ANCHOR_MAX_BLOCKS))
    while True:
        mine = AnchorPublication.objects.filter(chain_id=pub.chain_id, contract=contract)
        last = mine.aggregate(h=Max("to_height"))["h"] or 0
        head = Block.objects.aggregate(h=Max("height"))["h"] or 0
        waiting = head - last
        if waiting <= 0:
            return planned
        oldest = Block.objects.filter(height=last + 1).values_list("timestamp", flat=True).first() or 0
        if waiting < every_blocks and now.timestamp() - oldest < every_seconds:
            return planned
        top = min(head, last + most)
        rows = list(
            Block.objects.filter(height__gt=last, height__lte=top)
            .order_by("height")
            .values_list("height", "block_hash")
        )
        root = merkle.to_hex(root_of_roots(rows))
        data = selector(ANCHOR_SIGNATURE) + abi_encode(
            ["uint256", "uint256", "bytes32", "bytes32"],
            [last + 1, top, merkle.from_hex(rows[-1][1]), merkle.from_hex(root)],
        )
        try:
            with transaction.atomic():
                tx = outbox.outbox_enqueue(
                    sender=sender,
                    key=f"anchor:{pub.chain_id}:{contract}:{last + 1}-{top}",
                    purpose="anchor",
                    to=contract,
                    data=data,
                )
                publication = AnchorPublication.objects.create(
                    chain_tx=tx,
                    chain_id=pub.chain_id,
                    contract=contract,
                    from_height=last + 1,
                    to_height=top,
                    last_block_hash=rows[-1][1],
                    root_of_roots=root,
                )
        except IntegrityError:
            continue  # another planner took this range; look again
        planned.append(publication)


@lru_cache(maxsize=64)
def _anchor_tree(publication_id: int, from_height: int, to_height: int) -> tuple[list[bytes], dict[int, bytes]]:
    rows = Block.objects.filter(height__gte=from_height, height__lte=to_height).values_list("height", "block_hash")
    leaves = {h: anchor_leaf(h, merkle.from_hex(bh)) for h, bh in rows}
    return merkle.make_tree(list(leaves.values())), leaves


def chain_anchor_for(block: Block) -> dict | None:
    """The `chainAnchor` of a proof bundle whose block is in a confirmed publication, else None
    (and no query at all while on-chain publication is off, as before it existed)."""
    if not enabled():
        return None
    publication = (
        AnchorPublication.objects.filter(
            from_height__lte=block.height, to_height__gte=block.height, chain_tx__state=ChainTxState.CONFIRMED
        )
        .select_related("chain_tx")
        .order_by("-id")
        .first()
    )
    if publication is None:
        return None
    tree, leaves = _anchor_tree(publication.pk, publication.from_height, publication.to_height)
    proof = merkle.proof_at(tree, merkle.tree_index(tree, leaves[block.height]))
    return {
        "format": ANCHOR_FORMAT,
        "chainId": publication.chain_id,
        "contract": publication.contract,
        "txHash": publication.chain_tx.tx_hash,
        "chainBlock": publication.chain_tx.mined_block,
        "fromHeight": publication.from_height,
        "toHeight": publication.to_height,
        "lastBlockHash": publication.last_block_hash,
        "rootOfRoots": publication.root_of_roots,
        "leafEncoding": list(ANCHOR_ENCODING),
        "value": [str(block.height), block.block_hash],
        "proof": [merkle.to_hex(p) for p in proof],
    }


def _call(rpc: chains.RpcClient, contract: str, signature: str, types: list[str], args: list, out: list[str]):
    data = "0x" + (selector(signature) + abi_encode(types, args)).hex()
    try:
        answer = rpc.request("eth_call", [{"to": contract, "data": data}, "latest"])
    except chains.CallReverted:
        answer = None
    if not isinstance(answer, str) or len(answer) < 3:
        raise ValueError(f"the contract at {contract} did not answer {signature.split('(')[0]}")
    return abi_decode(out, bytes.fromhex(answer[2:]))


def check_on_chain(anchor: dict, rpc: chains.RpcClient) -> list[str]:
    """Check a (structurally verified) chainAnchor against LedgerAnchor's storage and the
    transaction's Anchored event; return what was checked, raise ValueError naming the mismatch."""
    contract = anchor["contract"]
    served = int(str(rpc.request("eth_chainId", [])), 16)
    if served != int(anchor["chainId"]):
        raise ValueError(f"the RPC node serves chain {served}, the anchor names chain {anchor['chainId']}")
    root = merkle.from_hex(anchor["rootOfRoots"])
    (index,) = _call(rpc, contract, "indexOfRoot(bytes32)", ["bytes32"], [root], ["uint256"])
    if index == 0:
        raise ValueError(f"the contract at {contract} on chain {served} never anchored root {anchor['rootOfRoots']}")
    stored = _call(
        rpc,
        contract,
        "anchorings(uint256)",
        ["uint256"],
        [index],
        ["uint256", "uint256", "bytes32", "bytes32", "uint256"],
    )
    if (stored[0], stored[1], merkle.to_hex(stored[2])) != (
        anchor["fromHeight"],
        anchor["toHeight"],
        anchor["lastBlockHash"],
    ):
        raise ValueError(f"anchoring {index} on chain holds other heights or another last block hash")
    receipt = rpc.request("eth_getTransactionReceipt", [anchor["txHash"]])
    if not receipt or int(str(receipt.get("status", "0x1")), 16) != 1:
        raise ValueError(f"transaction {anchor['txHash']} is not mined on chain {served}")
    topic0 = merkle.to_hex(merkle.keccak(ANCHORED_EVENT.encode()))
    wanted = [topic0, merkle.to_hex(index.to_bytes(32, "big")), anchor["rootOfRoots"]]
    if not any(
        str(log.get("address", "")).lower() == contract.lower()
        and [str(t).lower() for t in log.get("topics", [])] == wanted
        for log in receipt.get("logs", [])
    ):
        raise ValueError(f"transaction {anchor['txHash']} did not emit Anchored({index}, root) from {contract}")
    return [
        f"contract {contract} on chain {served} stores anchoring {index}: blocks {stored[0]}-{stored[1]}, this root",
        f"transaction {anchor['txHash']} (chain block {int(str(receipt['blockNumber']), 16)}) emitted its Anchored event",
    ]
