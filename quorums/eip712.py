"""Verdicts as EIP-712 typed data: what a validator signs, and how anyone re-derives the signer.

The struct binds the validator, the round and the content hash, so a signature made for one round
or one file cannot be replayed for another; the domain binds the portal and the chain."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from coincurve import PrivateKey
from django.conf import settings
from eth_utils import to_checksum_address

from portal.eth import domain_separator, keccak, recover_digest

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


# Version 2 of the verdict type: the same fields, then a score per criterion in basis points
# (0–10000) and the signed evidence behind them (compact JSON of the node's check results).
# Version 1 verdicts stay verifiable: a message without score fields is hashed as a `Verdict`.
CRITERIA = ("authenticity", "ownership", "quality", "uniqueness")
SCORED_PRIMARY = "ScoredVerdict"
SCORED_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": VERDICT_TYPES["EIP712Domain"],
    SCORED_PRIMARY: [
        *VERDICT_TYPES["Verdict"],
        *({"name": c, "type": "uint16"} for c in CRITERIA),
        {"name": "evidence", "type": "string"},
    ],
}
MAX_EVIDENCE = 4000


def is_scored(message: dict[str, Any]) -> bool:
    return "evidence" in message or any(c in message for c in CRITERIA)


def scored_verdict_typed_data(
    *,
    validator: str,
    round_id: int,
    content_hash: str,
    verdict: str,
    reason: str,
    scores: dict[str, int],
    evidence: str,
) -> dict[str, Any]:
    """The full EIP-712 ScoredVerdict message (version 2 of the verdict type)."""
    typed = verdict_typed_data(
        validator=validator, round_id=round_id, content_hash=content_hash, verdict=verdict, reason=reason
    )
    typed["types"], typed["primaryType"] = SCORED_TYPES, SCORED_PRIMARY
    typed["message"].update({c: int(scores[c]) for c in CRITERIA}, evidence=evidence)
    return typed


def domain() -> dict[str, Any]:
    return {"name": "iDAO Portal", "version": "1", "chainId": settings.PORTAL_CHAIN_ID}


def verdict_typed_data(
    *, validator: str, round_id: int, content_hash: str, verdict: str, reason: str
) -> dict[str, Any]:
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


_HEX = frozenset("0123456789abcdef")


def as_bytes32_hex(value: str) -> str:
    raw = value.lower().removeprefix("0x")
    if len(raw) != 64 or not _HEX.issuperset(raw):
        raise ValueError("A content hash is 32 bytes: 0x followed by 64 hex digits.")
    return "0x" + raw


# eth_account is imported where it is used (the fast paths above cover the usual messages):
# loading it at start-up cost every process several megabytes.
def _signable(full_message: dict[str, Any]):
    from eth_account.messages import encode_typed_data

    return encode_typed_data(full_message=full_message)


# --- the Verdict struct hashed directly ----------------------------------------------------------
# eth_account's generic typed-data encoder costs about a millisecond per call; the Verdict struct is
# fixed, so its EIP-712 hash is a few keccaks. tests/quorums/test_eip712_fast.py checks that both
# give the same digests and signers; anything the fast path does not handle goes the generic way.

_VERDICT_TYPEHASH = keccak(b"Verdict(address validator,uint256 round,bytes32 contentHash,string verdict,string reason)")
_SCORED_TYPEHASH = keccak(
    b"ScoredVerdict(address validator,uint256 round,bytes32 contentHash,string verdict,string reason,"
    b"uint16 authenticity,uint16 ownership,uint16 quality,uint16 uniqueness,string evidence)"
)
_V1_FIELDS = {"validator", "round", "contentHash", "verdict", "reason"}
_V2_FIELDS = _V1_FIELDS | set(CRITERIA) | {"evidence"}


_domain_separator = lru_cache(maxsize=8)(domain_separator)


def _fast_digest(full_message: dict[str, Any]) -> bytes | None:
    """keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct(Verdict)) for a well-formed Verdict
    message in the portal's own domain; None for anything else (the generic encoder decides)."""
    try:
        types, primary = full_message.get("types"), full_message.get("primaryType")
        if primary == "Verdict" and (types is VERDICT_TYPES or types == VERDICT_TYPES):
            fields, typehash = _V1_FIELDS, _VERDICT_TYPEHASH
        elif primary == SCORED_PRIMARY and (types is SCORED_TYPES or types == SCORED_TYPES):
            fields, typehash = _V2_FIELDS, _SCORED_TYPEHASH
        else:
            return None
        d, m = full_message["domain"], full_message["message"]
        if set(d) != {"name", "version", "chainId"} or set(m) != fields:
            return None
        tail = b""
        if fields is _V2_FIELDS:
            for c in CRITERIA:
                value = m[c]
                if type(value) is not int or not 0 <= value < 2**16:
                    return None
                tail += value.to_bytes(32, "big")
            if type(m["evidence"]) is not str:
                return None
            tail += keccak(m["evidence"].encode())
        name, version, chain_id = d["name"], d["version"], d["chainId"]
        validator, round_id, content_hash, verdict, reason = (
            m["validator"],
            m["round"],
            m["contentHash"],
            m["verdict"],
            m["reason"],
        )
        if not (
            type(name) is str
            and type(version) is str
            and type(chain_id) is int
            and 0 <= chain_id < 2**256
            and type(round_id) is int
            and 0 <= round_id < 2**256
            and type(verdict) is str
            and type(reason) is str
            and type(validator) is str
            and type(content_hash) is str
        ):
            return None
        address = bytes.fromhex(validator[2:]) if len(validator) == 42 and validator[:2] == "0x" else None
        if address is not None and validator[2:] != validator[2:].lower() and validator != _checksum(validator):
            return None  # a mis-checksummed address: the generic encoder refuses it
        raw_hash = content_hash.removeprefix("0x")
        if address is None or len(address) != 20 or len(raw_hash) != 64 or content_hash[:2] != "0x":
            return None
        struct = keccak(
            typehash
            + address.rjust(32, b"\0")
            + round_id.to_bytes(32, "big")
            + bytes.fromhex(raw_hash)
            + keccak(verdict.encode())
            + keccak(reason.encode())
            + tail
        )
        return keccak(b"\x19\x01" + _domain_separator(name, version, chain_id) + struct)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """EIP-55 form, remembered: a few validators sign many verdicts."""
    return to_checksum_address(address)


def _digest_bytes(full_message: dict[str, Any]) -> bytes:
    fast = _fast_digest(full_message)
    if fast is not None:
        return fast
    signable = _signable(full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


_fast_recover = recover_digest


def verdict_digest(full_message: dict[str, Any]) -> str:
    """The EIP-712 digest (keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct)), 0x-hex."""
    return "0x" + _digest_bytes(full_message).hex()


def recover_with_digest(full_message: dict[str, Any], signature: str) -> tuple[str, str]:
    """(signer, 0x-hex digest) with the typed data hashed once; ValueError as recover_signer."""
    fast = _fast_digest(full_message)
    if fast is not None:
        signer = _fast_recover(fast, signature)
        if signer is not None:
            return signer, "0x" + fast.hex()
    return recover_signer(full_message, signature), verdict_digest(full_message)


def recover_signer(full_message: dict[str, Any], signature: str) -> str:
    """The EIP-55 address that signed this typed data; ValueError for a malformed signature."""
    fast = _fast_digest(full_message)
    if fast is not None:
        signer = _fast_recover(fast, signature)
        if signer is not None:
            return signer
    from eth_account import Account

    try:
        return Account.recover_message(_signable(full_message), signature=signature)
    except Exception as exc:  # eth_keys raises several types for bad signatures
        raise ValueError(f"The signature cannot be recovered: {exc}") from exc


def sign_verdict(private_key: bytes | str, full_message: dict[str, Any]) -> str:
    """For automated validator nodes: sign typed data with a local key (RFC 6979, low s, v 27/28,
    the same bytes eth_account produces)."""
    fast = _fast_digest(full_message)
    if fast is None:
        from eth_account import Account

        signed = Account.sign_message(_signable(full_message), private_key=private_key)
        return "0x" + signed.signature.hex().removeprefix("0x")
    key = private_key if isinstance(private_key, bytes) else bytes.fromhex(str(private_key).removeprefix("0x"))
    sig = PrivateKey(bytes(key)).sign_recoverable(fast, hasher=None)
    return "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()


def publication() -> dict[str, Any]:
    """What /quorums/eip712.json publishes so any wallet or library can build the same message."""
    return {
        "domain": domain(),
        "types": SCORED_TYPES,
        "primaryType": SCORED_PRIMARY,
        "verdicts": list(VERDICTS),
        "criteria": list(CRITERIA),
        "versions": [
            {"version": 1, "primaryType": "Verdict", "types": VERDICT_TYPES},
            {"version": 2, "primaryType": SCORED_PRIMARY, "types": SCORED_TYPES},
        ],
        "notes": "contentHash is the SHA-256 of the file; round is the validation round id. "
        "Version 2 (ScoredVerdict, signed today) adds a score per criterion in basis points "
        "(0-10000) and the evidence behind them (JSON of the checks' codes and figures); "
        "version 1 (Verdict) messages are still accepted and verified.",
    }
