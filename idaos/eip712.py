"""EIP-712 ballots: the one domain and type set the portal signs and verifies.

The voter is inside the signed message (as OpenZeppelin Governor does since v5), so a signature
can never be attributed to another address."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from portal.eth import domain_separator, recover_digest

DOMAIN_NAME = "iDAO Portal"
DOMAIN_VERSION = "1"
PRIMARY_TYPE = "Ballot"
BALLOT_TYPE = [
    {"name": "voter", "type": "address"},
    {"name": "idao", "type": "string"},
    {"name": "proposal", "type": "uint256"},
    {"name": "choice", "type": "string"},
    {"name": "reason", "type": "string"},
    {"name": "timestamp", "type": "uint64"},
]
MESSAGE_FIELDS = tuple(f["name"] for f in BALLOT_TYPE)
# How a ballot's signature was verified; ECDSA recovery ("eoa") is the only way today.
VERIFIED_BY_EOA = "eoa"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]


def domain(chain_id: int | None = None) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": settings.PORTAL_CHAIN_ID if chain_id is None else chain_id,
    }


def types() -> dict[str, list[dict[str, str]]]:
    return {"EIP712Domain": EIP712_DOMAIN_TYPE, PRIMARY_TYPE: BALLOT_TYPE}


def typed_data(message: dict[str, Any], *, chain_id: int | None = None) -> dict[str, Any]:
    """The full `eth_signTypedData_v4` document for a ballot message."""
    return {"types": types(), "primaryType": PRIMARY_TYPE, "domain": domain(chain_id), "message": message}


def published() -> dict[str, Any]:
    """What /governance/eip712.json serves: enough for any EIP-712 library to sign a ballot."""
    return {
        "domain": domain(),
        "types": types(),
        "primaryType": PRIMARY_TYPE,
        "message_fields": list(MESSAGE_FIELDS),
        "choices": ["for", "against", "abstain"],
        "notes": (
            "voter is your EIP-55 address; idao is the iDAO slug; proposal is the proposal id; "
            "timestamp is Unix seconds (UTC) and must fall inside the voting window and no more than "
            '300 s ahead of the server clock. POST {"message": …, "signature": "0x…"} to '
            "/api/v1/proposals/{id}/votes."
        ),
    }


def _signable(message: dict[str, Any], chain_id: int | None):
    return encode_typed_data(full_message=typed_data(message, chain_id=chain_id))


def digest(message: dict[str, Any], *, chain_id: int | None = None) -> str:
    """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)), 0x-prefixed."""
    s = _signable(message, chain_id)
    return "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()


def recover(message: dict[str, Any], signature: str, *, chain_id: int | None = None) -> str:
    """The EIP-55 address that signed this ballot; raises ValueError for an unusable signature."""
    return Account.recover_message(_signable(message, chain_id), signature=signature)


# The Ballot struct is fixed, so its EIP-712 hash is a few keccaks instead of eth_account's generic
# encoder (about 1 ms). tests/idaos/test_eip712.py checks both give the same digests and signers.
_BALLOT_TYPEHASH = keccak(
    b"Ballot(address voter,string idao,uint256 proposal,string choice,string reason,uint64 timestamp)"
)


@lru_cache(maxsize=16)
def _separator(chain_id: int) -> bytes:
    return domain_separator(DOMAIN_NAME, DOMAIN_VERSION, chain_id)


def fast_digest(message: dict[str, Any], *, chain_id: int | None = None) -> bytes | None:
    """The digest of a cleaned ballot (see ballots.clean_message), or None where the generic
    encoder must decide (a mis-checksummed voter address, which it refuses)."""
    voter = message["voter"]
    if voter[2:] != voter[2:].lower() and voter != to_checksum_address(voter):
        return None
    struct = keccak(
        _BALLOT_TYPEHASH
        + bytes.fromhex(voter[2:]).rjust(32, b"\0")
        + keccak(message["idao"].encode())
        + message["proposal"].to_bytes(32, "big")
        + keccak(message["choice"].encode())
        + keccak(message["reason"].encode())
        + message["timestamp"].to_bytes(32, "big")
    )
    return keccak(b"\x19\x01" + _separator(settings.PORTAL_CHAIN_ID if chain_id is None else chain_id) + struct)


def verify(message: dict[str, Any], signature: str, *, chain_id: int | None = None) -> tuple[str, str]:
    """(recovered signer, digest) for a cleaned ballot."""
    fast = fast_digest(message, chain_id=chain_id)
    if fast is not None:
        signer = recover_digest(fast, signature)
        if signer is not None:
            return signer, "0x" + fast.hex()
    s = _signable(message, chain_id)
    signer = Account.recover_message(s, signature=signature)
    return signer, "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()
