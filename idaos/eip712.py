"""EIP-712 ballots: the one domain and type set the portal signs and verifies.

The voter is inside the signed message (as OpenZeppelin Governor does since v5), so a signature
can never be attributed to another address."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

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
            "300 s ahead of the server clock. POST {\"message\": …, \"signature\": \"0x…\"} to "
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


def verify(message: dict[str, Any], signature: str, *, chain_id: int | None = None) -> tuple[str, str]:
    """(recovered signer, digest) for a ballot, encoding the typed data once."""
    s = _signable(message, chain_id)
    signer = Account.recover_message(s, signature=signature)
    return signer, "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()
