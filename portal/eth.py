"""Signature recovery over a 32-byte digest with coincurve directly.

eth_account's generic path (encode typed data, then recover) costs about a millisecond per call;
the apps hash their fixed EIP-712 structs themselves and recover here in ~0.1 ms. Anything this
does not handle returns None, and callers fall back to eth_account, which explains the error."""

from __future__ import annotations

from functools import lru_cache

from coincurve import PublicKey
from Crypto.Hash import keccak as _keccak
from eth_utils import to_checksum_address


def keccak(data: bytes) -> bytes:
    """keccak-256 of bytes, pycryptodome's directly (eth_utils' keccak is the same hash behind two
    wrappers, which cost more than hashing a short message)."""
    return _keccak.new(digest_bits=256, data=data).digest()


@lru_cache(maxsize=4096)
def eip55(address: bytes) -> str:
    """EIP-55 form of a 20-byte address, remembered: a few validators sign many verdicts."""
    return to_checksum_address(address)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
EIP712_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId)")


def domain_separator(name: str, version: str, chain_id: int) -> bytes:
    return keccak(
        EIP712_DOMAIN_TYPEHASH + keccak(name.encode()) + keccak(version.encode()) + chain_id.to_bytes(32, "big")
    )


def recover_digest(digest: bytes, signature: str) -> str | None:
    """The EIP-55 signer of a 65-byte r ‖ s ‖ v signature (v 27/28 or 0/1) over `digest`, or None."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) else None
    except ValueError:
        return None
    if raw is None or len(raw) != 65:
        return None
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1) or not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        return None
    try:
        public = PublicKey.from_signature_and_message(raw[:64] + bytes([v]), digest, hasher=None)
    except Exception:  # an unrecoverable point: the caller's generic path reports it
        return None
    return eip55(keccak(public.format(compressed=False)[1:])[-20:])
