"""EIP-712 ballots: the one domain and type set the portal signs and verifies.

The voter is inside the signed message (as OpenZeppelin Governor does since v5), so a signature
can never be attributed to another address."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
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
# Type version 2, for signals with several options (docs/governance.md "Signals with several
# options"): `options` are 0-based indices into the proposal's options — the one chosen (single
# choice), the approved ones (approval) or the ranking, most preferred first (ranked choice).
# Same domain; a Ballot (version 1) stays valid for every other proposal.
OPTION_PRIMARY_TYPE = "OptionBallot"
OPTION_BALLOT_TYPE = [
    {"name": "voter", "type": "address"},
    {"name": "idao", "type": "string"},
    {"name": "proposal", "type": "uint256"},
    {"name": "options", "type": "uint8[]"},
    {"name": "reason", "type": "string"},
    {"name": "timestamp", "type": "uint64"},
]
OPTION_MESSAGE_FIELDS = tuple(f["name"] for f in OPTION_BALLOT_TYPE)
# How a ballot's signature was verified (portal.signatures.verify): "eoa" is ECDSA recovery; a
# contract wallet's ballot is "erc1271" or "erc6492", and "pending" until its wallet approves.
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


def option_types() -> dict[str, list[dict[str, str]]]:
    return {"EIP712Domain": EIP712_DOMAIN_TYPE, OPTION_PRIMARY_TYPE: OPTION_BALLOT_TYPE}


def is_option_ballot(message: dict[str, Any]) -> bool:
    """An OptionBallot carries `options` where a Ballot carries `choice`."""
    return "options" in message and "choice" not in message


def typed_data(message: dict[str, Any], *, chain_id: int | None = None) -> dict[str, Any]:
    """The full `eth_signTypedData_v4` document for a ballot message (Ballot or OptionBallot)."""
    if is_option_ballot(message):
        return {
            "types": option_types(),
            "primaryType": OPTION_PRIMARY_TYPE,
            "domain": domain(chain_id),
            "message": message,
        }
    return {"types": types(), "primaryType": PRIMARY_TYPE, "domain": domain(chain_id), "message": message}


def published() -> dict[str, Any]:
    """What /governance/eip712.json serves: enough for any EIP-712 library to sign a ballot."""
    return {
        "domain": domain(),
        "types": types(),
        "primaryType": PRIMARY_TYPE,
        "message_fields": list(MESSAGE_FIELDS),
        "choices": ["for", "against", "abstain"],
        "delegation": published_delegation(),
        "option_ballot": {
            "primaryType": OPTION_PRIMARY_TYPE,
            "types": option_types(),
            "message_fields": list(OPTION_MESSAGE_FIELDS),
            "methods": ["single", "approval", "ranked"],
            "notes": (
                "For a signal proposal with options (its payload has options and method): options are 0-based "
                "indices into the proposal's options: exactly one for single, the approved ones for approval, "
                "the ranking (most preferred first, no repeats, unranked options last) for ranked. The other "
                "fields are the Ballot's."
            ),
        },
        "notes": (
            "voter is your EIP-55 address; idao is the iDAO slug; proposal is the proposal id; "
            "timestamp is Unix seconds (UTC) and must fall inside the voting window and no more than "
            '300 s ahead of the server clock. POST {"message": …, "signature": "0x…"} to '
            "/api/v1/proposals/{id}/votes."
        ),
    }


# eth_account is imported where it is used: ballots are checked by the fast path (fast_digest,
# portal.eth.recover_digest), and loading it at start-up cost every process several megabytes.
def _signable(message: dict[str, Any], chain_id: int | None):
    from eth_account.messages import encode_typed_data

    return encode_typed_data(full_message=typed_data(message, chain_id=chain_id))


def digest(message: dict[str, Any], *, chain_id: int | None = None) -> str:
    """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)), 0x-prefixed."""
    s = _signable(message, chain_id)
    return "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()


def recover(message: dict[str, Any], signature: str, *, chain_id: int | None = None) -> str:
    """The EIP-55 address that signed this ballot; raises ValueError for an unusable signature."""
    from eth_account import Account

    return Account.recover_message(_signable(message, chain_id), signature=signature)


# The Ballot struct is fixed, so its EIP-712 hash is a few keccaks instead of eth_account's generic
# encoder (about 1 ms). tests/idaos/test_eip712.py checks both give the same digests and signers.
_BALLOT_TYPEHASH = keccak(
    b"Ballot(address voter,string idao,uint256 proposal,string choice,string reason,uint64 timestamp)"
)


_OPTION_BALLOT_TYPEHASH = keccak(
    b"OptionBallot(address voter,string idao,uint256 proposal,uint8[] options,string reason,uint64 timestamp)"
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
    if is_option_ballot(message):
        # A dynamic array is hashed as keccak of its elements' 32-byte encodings, concatenated.
        typehash = _OPTION_BALLOT_TYPEHASH
        picked = keccak(b"".join(int(o).to_bytes(32, "big") for o in message["options"]))
    else:
        typehash, picked = _BALLOT_TYPEHASH, keccak(message["choice"].encode())
    struct = keccak(
        typehash
        + bytes.fromhex(voter[2:]).rjust(32, b"\0")
        + keccak(message["idao"].encode())
        + message["proposal"].to_bytes(32, "big")
        + picked
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
    from eth_account import Account

    s = _signable(message, chain_id)
    signer = Account.recover_message(s, signature=signature)
    return signer, "0x" + keccak(b"\x19" + s.version + s.header + s.body).hex()


# Delegations (docs/governance.md "Delegation"): signed in the same domain as ballots, each with
# its own primary type so that any EIP-712 library (ethers refuses unused types) can sign it.
DELEGATION_TYPE = [
    {"name": "delegator", "type": "address"},
    {"name": "scope", "type": "string"},
    {"name": "shares", "type": "Share[]"},
    {"name": "expiry", "type": "uint64"},
    {"name": "nonce", "type": "uint64"},
]
SHARE_TYPE = [
    {"name": "delegate", "type": "address"},
    {"name": "bps", "type": "uint16"},
]
REVOCATION_TYPE = [
    {"name": "delegator", "type": "address"},
    {"name": "scope", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]
DELEGATION_FIELDS = tuple(f["name"] for f in DELEGATION_TYPE)
SHARE_FIELDS = tuple(f["name"] for f in SHARE_TYPE)
REVOCATION_FIELDS = tuple(f["name"] for f in REVOCATION_TYPE)


def delegation_types() -> dict[str, list[dict[str, str]]]:
    return {"EIP712Domain": EIP712_DOMAIN_TYPE, "Delegation": DELEGATION_TYPE, "Share": SHARE_TYPE}


def revocation_types() -> dict[str, list[dict[str, str]]]:
    return {"EIP712Domain": EIP712_DOMAIN_TYPE, "Revocation": REVOCATION_TYPE}


def delegation_typed_data(message: dict[str, Any], *, chain_id: int | None = None) -> dict[str, Any]:
    """The `eth_signTypedData_v4` document for a Delegation message."""
    return {"types": delegation_types(), "primaryType": "Delegation", "domain": domain(chain_id), "message": message}


def revocation_typed_data(message: dict[str, Any], *, chain_id: int | None = None) -> dict[str, Any]:
    """The `eth_signTypedData_v4` document for a Revocation message."""
    return {"types": revocation_types(), "primaryType": "Revocation", "domain": domain(chain_id), "message": message}


def typed_digest(full: dict[str, Any]) -> bytes:
    """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)) of a full typed-data document."""
    from eth_account.messages import encode_typed_data

    s = encode_typed_data(full_message=full)
    return keccak(b"\x19" + s.version + s.header + s.body)


def published_delegation() -> dict[str, Any]:
    """The delegation part of /governance/eip712.json."""
    return {
        "domain": domain(),
        "delegation": {"primaryType": "Delegation", "types": delegation_types()},
        "revocation": {"primaryType": "Revocation", "types": revocation_types()},
        "scopes": ["idao:<slug>", "domain:<domain>", "global"],
        "default_days": settings.IDAOS_DELEGATION_DEFAULT_DAYS,
        "max_days": settings.IDAOS_DELEGATION_MAX_DAYS,
        "notes": (
            "delegator is your EIP-55 address; shares are (delegate, basis points) summing to at most 10000, the "
            "rest you keep; expiry is Unix seconds (UTC), at most max_days ahead; nonce is your next delegation "
            "nonce (GET /api/v1/delegations/nonce/{address}), shared by delegations and revocations. POST "
            '{"message": …, "signature": "0x…"} to /api/v1/delegations or /api/v1/delegations/revocations.'
        ),
    }
