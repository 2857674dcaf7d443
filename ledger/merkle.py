"""OpenZeppelin StandardMerkleTree, byte for byte (@openzeppelin/merkle-tree 1.x).

leaf = keccak256(keccak256(abi.encode(types, values))); parents hash the sorted pair; leaves are
sorted by hash and laid out at the end of a flat array, root at index 0. Pure: no database."""

from __future__ import annotations

import ctypes
import json
import threading
from collections.abc import Sequence
from typing import Any

from Crypto.Hash import keccak as _keccak
from eth_abi import encode as abi_encode

# The ledger's fixed leaf type list: (subjectHash, leafId, payloadHash). See docs/ledger.md.
LEAF_ENCODING = ("bytes32", "uint256", "bytes32")
ZERO_HASH = b"\x00" * 32


def _slow_keccak(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


def _load_fast_keccak():
    """Keccak-256 through pycryptodome's own C library with one reusable state per thread:
    2.5x faster than building a hash object per call, which matters for 100k-leaf blocks."""
    try:
        # PyDLL keeps the GIL for these sub-microsecond calls instead of releasing it three times.
        lib = ctypes.PyDLL(_keccak._raw_keccak_lib._name)  # type: ignore[attr-defined]  # private; guarded below
        init, reset, absorb, digest = lib.keccak_init, lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
    except (AttributeError, OSError):
        return _slow_keccak
    init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_ubyte]
    reset.argtypes = [ctypes.c_void_p]
    absorb.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    digest.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_ubyte]
    local = threading.local()

    def fast(data: bytes) -> bytes:
        try:
            state, out = local.state, local.out
        except AttributeError:
            handle = ctypes.c_void_p()
            if init(ctypes.byref(handle), 64, 24):  # capacity 512 bits, 24 rounds: Keccak-256
                raise RuntimeError("keccak_init failed") from None
            state, out = local.state, local.out = handle.value, ctypes.create_string_buffer(32)
        reset(state)
        absorb(state, data, len(data))
        digest(state, out, 32, 0x01)  # 0x01: original Keccak padding, as Ethereum uses
        return out.raw

    return fast if fast(b"") == _slow_keccak(b"") and fast(b"abc") == _slow_keccak(b"abc") else _slow_keccak


keccak = _load_fast_keccak()


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def from_hex(text: str, *, size: int | None = 32) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError("expected 0x-prefixed hex")
    raw = bytes.fromhex(text[2:])
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw


def canonical_json(payload: object) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 (not \\u-escaped); NaN/Infinity refused."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def subject_hash(kind: str, subject: str) -> bytes:
    return keccak(f"{kind}:{subject}".encode())


def payload_hash(payload_json: str) -> bytes:
    return keccak(payload_json.encode())


def leaf_hash(types: Sequence[str], values: Sequence[object]) -> bytes:
    """The generic StandardMerkleTree leaf hash for any ABI type list."""
    return keccak(keccak(abi_encode(list(types), list(values))))


def ledger_leaf_hash(subject: bytes, leaf_id: int, payload: bytes) -> bytes:
    """leaf_hash(LEAF_ENCODING, ...) without the generic encoder: static types concatenate."""
    return keccak(keccak(subject + leaf_id.to_bytes(32, "big") + payload))


def ledger_leaf_values(subject: bytes, leaf_id: int, payload: bytes) -> list[object]:
    """The leaf's `value` as StandardMerkleTree's JSON dump writes it."""
    return [to_hex(subject), str(leaf_id), to_hex(payload)]


def ledger_values_to_abi(value: Sequence[Any]) -> list[object]:
    return [from_hex(value[0]), int(value[1]), from_hex(value[2])]


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


def make_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """The flat tree of sorted leaf hashes, as OpenZeppelin lays it out (root at index 0)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    ordered = sorted(leaves)
    n = len(ordered)
    tree: list[bytes] = [b""] * (n - 1) + ordered[::-1]
    h = keccak
    for i in range(n - 2, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = h(left + right if left <= right else right + left)
    return tree


def root_of(leaves: Sequence[bytes]) -> bytes:
    return make_tree(leaves)[0]


def tree_index(tree: Sequence[bytes], leaf: bytes) -> int:
    n = (len(tree) + 1) // 2
    for i in range(len(tree) - 1, len(tree) - 1 - n, -1):
        if tree[i] == leaf:
            return i
    raise ValueError("leaf is not in the tree")


def proof_at(tree: Sequence[bytes], index: int) -> list[bytes]:
    proof = []
    while index > 0:
        sibling = index + 1 if index % 2 else index - 1
        proof.append(tree[sibling])
        index = (index - 1) // 2
    return proof


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def block_hash(*, height: int, prev_hash: bytes, merkle_root: bytes, leaf_count: int, timestamp: int) -> bytes:
    """keccak256(abi.encode(uint256 height, bytes32 prevHash, bytes32 merkleRoot, uint256 leafCount,
    uint256 timestamp))."""
    return keccak(
        height.to_bytes(32, "big")
        + prev_hash
        + merkle_root
        + leaf_count.to_bytes(32, "big")
        + timestamp.to_bytes(32, "big")
    )
