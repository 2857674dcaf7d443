"""Account owners are plain strings, so apps downstream can name accounts without importing them.

`user:<EIP-55 address>`, `idao:<slug>`, `escrow:quorum:<id>` and the system accounts."""

from __future__ import annotations

import re

from eth_utils import to_checksum_address

ISSUER = "system:issuer"
REWARD_POOL = "system:reward_pool"
# Hot system accounts every fee, mint and payout touches: their balance rows are sharded.
SHARDED = frozenset({ISSUER, REWARD_POOL})

# `<kind>:<rest>`: a lowercase kind, then printable characters without spaces.
OWNER_RE = re.compile(r"^[a-z][a-z_]{0,30}:[!-~]{1,160}$")


def user(address: str) -> str:
    if not isinstance(address, str) or not re.fullmatch(r"0[xX][0-9a-fA-F]{40}", address):
        raise ValueError("An Ethereum address is 0x followed by 40 hex digits.")
    return f"user:{to_checksum_address(address)}"


def idao(slug: str) -> str:
    return f"idao:{slug}"


def escrow(quorum_id: int | str) -> str:
    return f"escrow:quorum:{quorum_id}"


def is_valid(owner: object) -> bool:
    return isinstance(owner, str) and bool(OWNER_RE.match(owner))


def may_go_negative(owner: str) -> bool:
    """Only the issuer's balance goes below zero: minus the supply it has minted."""
    return owner == ISSUER
