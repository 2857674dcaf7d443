"""Pure proof checking: no database, no Django. A bundle verifies if its leaf, Merkle proof, root,
block header and chain of headers to the latest block all agree.

The top-level `root`, `leafEncoding`, `value` and `proof` are exactly what OpenZeppelin's
`StandardMerkleTree.verify(root, leafEncoding, value, proof)` takes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import merkle

BUNDLE_FORMAT = "idao-ledger-proof/1"
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_UINT = re.compile(r"^(0|[1-9][0-9]{0,77})$")


class InvalidProof(ValueError):
    """The bundle does not prove what it claims; the message says which check failed."""


def _hash(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HASH.match(value):
        raise InvalidProof(f"{what} is not a 0x-prefixed lowercase 32-byte hex string")
    return bytes.fromhex(value[2:])


def _uint(value: object, what: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and _UINT.match(value):
        return int(value)
    raise InvalidProof(f"{what} is not an unsigned integer")


BUNDLE_FIELDS = {"format", "root", "leafEncoding", "value", "proof", "leafHash", "leaf", "block", "headers"}
ANCHOR_FIELDS = {
    "format",
    "chainId",
    "contract",
    "txHash",
    "chainBlock",
    "fromHeight",
    "toHeight",
    "lastBlockHash",
    "rootOfRoots",
    "leafEncoding",
    "value",
    "proof",
}
HEADER_FIELDS = ("height", "prevHash", "merkleRoot", "leafCount", "timestamp", "blockHash")


def check_header(header: object) -> bytes:
    """Recompute a header's block hash; return it if it matches the header's own."""
    if not isinstance(header, Mapping) or set(header) != set(HEADER_FIELDS):
        raise InvalidProof(f"a block header has exactly the fields {', '.join(HEADER_FIELDS)}")
    height = _uint(header["height"], "height")
    digest = merkle.block_hash(
        height=height,
        prev_hash=_hash(header["prevHash"], "prevHash"),
        merkle_root=_hash(header["merkleRoot"], "merkleRoot"),
        leaf_count=_uint(header["leafCount"], "leafCount"),
        timestamp=_uint(header["timestamp"], "timestamp"),
    )
    if digest != _hash(header["blockHash"], "blockHash"):
        raise InvalidProof(f"block {height}: the header does not hash to its blockHash")
    return digest


def check_chain(headers: object) -> None:
    """Each header hashes correctly and links to the one before it, with consecutive heights."""
    if not isinstance(headers, list) or not headers:
        raise InvalidProof("headers must be a non-empty list")
    previous: Mapping | None = None
    for header in headers:
        check_header(header)
        if previous is not None and (
            header["height"] != previous["height"] + 1 or header["prevHash"] != previous["blockHash"]
        ):
            raise InvalidProof(f"block {header['height']} does not follow block {previous['height']}")
        previous = header


def check_proof(bundle: object) -> None:
    """Raise InvalidProof naming the first failed check; return None if the bundle verifies."""
    if not isinstance(bundle, Mapping):
        raise InvalidProof("a proof bundle is a JSON object")
    if set(bundle) - {"chainAnchor"} != BUNDLE_FIELDS:
        raise InvalidProof(f"a bundle has exactly the fields {', '.join(sorted(BUNDLE_FIELDS))}")
    if bundle.get("format") != BUNDLE_FORMAT:
        raise InvalidProof(f"unknown bundle format (expected {BUNDLE_FORMAT})")
    if list(bundle.get("leafEncoding") or ()) != list(merkle.LEAF_ENCODING):
        raise InvalidProof(f"leafEncoding must be {list(merkle.LEAF_ENCODING)}")
    value = bundle.get("value")
    if not isinstance(value, list) or len(value) != 3 or not isinstance(value[1], str):
        raise InvalidProof("value is [subjectHash, leafId as a decimal string, payloadHash]")
    subject, leaf_id, payload = _hash(value[0], "value[0]"), _uint(value[1], "value[1]"), _hash(value[2], "value[2]")
    leaf = bundle["leaf"]
    # The record itself must be what the leaf commits to.
    if (
        not isinstance(leaf, Mapping)
        or set(leaf) != {"id", "kind", "subject", "payload"}
        or not all(isinstance(leaf[k], str) for k in ("kind", "subject", "payload"))
    ):
        raise InvalidProof("leaf is {id, kind, subject, payload (canonical JSON text)}")
    if type(leaf["id"]) is not int or leaf["id"] != leaf_id:
        raise InvalidProof("leaf.id differs from value[1]")
    if merkle.subject_hash(leaf["kind"], leaf["subject"]) != subject:
        raise InvalidProof("the leaf's kind and subject do not hash to value[0]")
    if merkle.payload_hash(leaf["payload"]) != payload:
        raise InvalidProof("the leaf's payload does not hash to value[2]")
    proof = bundle.get("proof")
    if not isinstance(proof, list):
        raise InvalidProof("proof is a list of sibling hashes")
    root = _hash(bundle.get("root"), "root")
    leaf_hash = merkle.ledger_leaf_hash(subject, leaf_id, payload)
    if _hash(bundle["leafHash"], "leafHash") != leaf_hash:
        raise InvalidProof("leafHash is not the hash of value")
    computed = merkle.process_proof(leaf_hash, [_hash(p, "a proof element") for p in proof])
    if computed != root:
        raise InvalidProof("the leaf and proof do not hash to the root")
    block, headers = bundle.get("block"), bundle.get("headers")
    check_header(block)
    assert isinstance(block, Mapping)  # noqa: S101  # check_header refused anything else
    if block["merkleRoot"] != bundle["root"]:
        raise InvalidProof("the root is not the block's merkleRoot")
    check_chain(headers)
    assert isinstance(headers, list)  # noqa: S101  # check_chain refused anything else
    if headers[0] != block:
        raise InvalidProof("headers must start with the leaf's block")
    if "chainAnchor" in bundle:
        check_chain_anchor(bundle["chainAnchor"], block=block, headers=headers)


def check_chain_anchor(anchor: object, *, block: Mapping, headers: list) -> None:
    """The extra Merkle step from the block's hash to the root its publication anchored
    (docs/ledger.md): offline this proves the bundle and the anchor agree, not that the chain
    holds the anchor (ledger.onchain.check_on_chain asks the chain)."""
    if not isinstance(anchor, Mapping) or set(anchor) != ANCHOR_FIELDS:
        raise InvalidProof(f"chainAnchor has exactly the fields {', '.join(sorted(ANCHOR_FIELDS))}")
    if anchor["format"] != "idao-ledger-anchor/1" or list(anchor["leafEncoding"]) != ["uint256", "bytes32"]:
        raise InvalidProof("chainAnchor is idao-ledger-anchor/1 with leafEncoding [uint256, bytes32]")
    _uint(anchor["chainId"], "chainAnchor.chainId")
    _hash(anchor["txHash"], "chainAnchor.txHash")
    first, last = _uint(anchor["fromHeight"], "fromHeight"), _uint(anchor["toHeight"], "toHeight")
    value = anchor["value"]
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidProof("chainAnchor.value is [height as a decimal string, blockHash]")
    height, digest = _uint(value[0], "chainAnchor.value[0]"), _hash(value[1], "chainAnchor.value[1]")
    if height != block["height"] or value[1] != block["blockHash"]:
        raise InvalidProof("chainAnchor.value is not the leaf's block (height, blockHash)")
    if not first <= height <= last:
        raise InvalidProof("the block is outside the anchored range")
    proof = anchor["proof"]
    if not isinstance(proof, list):
        raise InvalidProof("chainAnchor.proof is a list of sibling hashes")
    leaf = merkle.leaf_hash(("uint256", "bytes32"), [height, digest])
    if merkle.process_proof(leaf, [_hash(p, "a chainAnchor proof element") for p in proof]) != _hash(
        anchor["rootOfRoots"], "rootOfRoots"
    ):
        raise InvalidProof("the block hash and chainAnchor.proof do not hash to the anchored rootOfRoots")
    _hash(anchor["lastBlockHash"], "lastBlockHash")
    for header in headers:
        if header["height"] == last and header["blockHash"] != anchor["lastBlockHash"]:
            raise InvalidProof("the anchored lastBlockHash is not the header of block toHeight")


def verify_proof(bundle: object) -> bool:
    """True if the bundle verifies: leaf values, proof, root, block header and header chain."""
    try:
        check_proof(bundle)
    except (InvalidProof, KeyError, TypeError, ValueError, OverflowError):
        return False
    return True
