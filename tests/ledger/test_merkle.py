"""Our Merkle code against vectors computed once with @openzeppelin/merkle-tree 1.0.8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from ledger import merkle

VECTORS = json.loads((Path(__file__).parent / "vectors" / "openzeppelin_merkle.json").read_text())["merkle"]


def _abi_values(types, value):
    out = []
    for t, v in zip(types, value, strict=True):
        if t.startswith("uint"):
            out.append(int(v))
        elif t == "bytes32":
            out.append(bytes.fromhex(v[2:]))
        elif t == "address":
            out.append(to_checksum_address(v))
        else:
            out.append(v)
    return out


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{len(v['leaves'])}-leaves-{'-'.join(v['leafEncoding'])}")
def test_leaf_hashes_roots_and_proofs_match_openzeppelin(vector):
    types = vector["leafEncoding"]
    hashes = [merkle.leaf_hash(types, _abi_values(types, leaf["value"])) for leaf in vector["leaves"]]
    assert [merkle.to_hex(h) for h in hashes] == [leaf["leafHash"] for leaf in vector["leaves"]]
    tree = merkle.make_tree(hashes)
    assert merkle.to_hex(tree[0]) == vector["root"]
    for leaf, h in zip(vector["leaves"], hashes, strict=True):
        proof = merkle.proof_at(tree, merkle.tree_index(tree, h))
        assert [merkle.to_hex(p) for p in proof] == leaf["proof"]
        assert merkle.process_proof(h, proof) == tree[0]


def test_the_fast_ledger_leaf_hash_equals_the_generic_abi_one():
    for vector in VECTORS:
        if vector["leafEncoding"] != list(merkle.LEAF_ENCODING):
            continue
        for leaf in vector["leaves"]:
            s, i, p = merkle.ledger_values_to_abi(leaf["value"])
            assert merkle.to_hex(merkle.ledger_leaf_hash(s, i, p)) == leaf["leafHash"]


def test_fast_keccak_matches_the_reference_implementation():
    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert merkle.keccak(data) == merkle._slow_keccak(data)
    assert merkle.keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
