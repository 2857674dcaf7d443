"""Every dats write, one module per aggregate (the file name says where a write is):

- minting.py        one DAT per accepted round (dats_mint, the on_rounds_accepted hook), declared lineage
- owner_actions.py  what an owner does with a DAT: policy change, revocation, transfer, parents
- grants.py         paid access grants (access_request)
- charter.py        the `dat_policy_bounds` proposal action (the charter's bounds on DAT policies)

Callers import the package (`from dats import services`); the names below are its surface."""

from __future__ import annotations

from .charter import BOUNDS_ACTION, bounds_describe, bounds_execute, bounds_validate
from .grants import access_request
from .minhashes import dats_minhash_store
from .minting import dat_mint, dats_mint, lineage_declare
from .owner_actions import dat_parents_add, dat_policy_change, dat_revoke, dat_transfer

__all__ = [
    "BOUNDS_ACTION",
    "access_request",
    "bounds_describe",
    "bounds_execute",
    "bounds_validate",
    "dat_mint",
    "dat_parents_add",
    "dat_policy_change",
    "dat_revoke",
    "dat_transfer",
    "dats_minhash_store",
    "dats_mint",
    "lineage_declare",
]
