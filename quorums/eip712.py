"""Verdicts as EIP-712 typed data: what a validator signs, and how anyone re-derives the signer.

The struct binds the validator, the round and the content hash, so a signature made for one round
or one file cannot be replayed for another; the domain binds the portal and the chain."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

VERDICTS = ("approve", "reject")

VERDICT_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "Verdict": [
        {"name": "validator", "type": "address"},
        {"name": "round", "type": "uint256"},
        {"name": "contentHash", "type": "bytes32"},
        {"name": "verdict", "type": "string"},
        {"name": "reason", "type": "string"},
    ],
}


def domain() -> dict[str, Any]:
    return {"name": "iDAO Portal", "version": "1", "chainId": settings.PORTAL_CHAIN_ID}


def verdict_typed_data(*, validator: str, round_id: int, content_hash: str, verdict: str, reason: str) -> dict[str, Any]:
    """The full EIP-712 message (as eth_signTypedData_v4 takes it). content_hash: 0x + 64 hex."""
    return {
        "types": VERDICT_TYPES,
        "primaryType": "Verdict",
        "domain": domain(),
        "message": {
            "validator": validator,
            "round": int(round_id),
            "contentHash": as_bytes32_hex(content_hash),
            "verdict": verdict,
            "reason": reason,
        },
    }


def as_bytes32_hex(value: str) -> str:
    raw = value.lower().removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise ValueError("A content hash is 32 bytes: 0x followed by 64 hex digits.")
    return "0x" + raw


def _signable(full_message: dict[str, Any]):
    return encode_typed_data(full_message=full_message)


def verdict_digest(full_message: dict[str, Any]) -> str:
    """The EIP-712 digest (keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct)), 0x-hex."""
    signable = _signable(full_message)
    return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


def recover_signer(full_message: dict[str, Any], signature: str) -> str:
    """The EIP-55 address that signed this typed data; ValueError for a malformed signature."""
    try:
        return Account.recover_message(_signable(full_message), signature=signature)
    except Exception as exc:  # eth_keys raises several types for bad signatures
        raise ValueError(f"The signature cannot be recovered: {exc}") from exc


def sign_verdict(private_key: bytes | str, full_message: dict[str, Any]) -> str:
    """For automated validator nodes: sign typed data with a local key."""
    signed = Account.sign_message(_signable(full_message), private_key=private_key)
    return "0x" + signed.signature.hex().removeprefix("0x")


def publication() -> dict[str, Any]:
    """What /quorums/eip712.json publishes so any wallet or library can build the same message."""
    return {
        "domain": domain(),
        "types": VERDICT_TYPES,
        "primaryType": "Verdict",
        "verdicts": list(VERDICTS),
        "notes": "contentHash is the SHA-256 of the file; round is the validation round id.",
    }
