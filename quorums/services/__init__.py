"""Every quorums write, one module per aggregate (the file name says where a write is):

- rounds.py      opening rounds (the VSC's pick, the committee draw) and closing them
- verdicts.py    signed verdicts (checked, recorded as signed, equivocation kept as evidence)
- bonds.py       bonding and unbonding LAZ into a quorum's escrow
- slashing.py    the one place LAZ leaves a bond as a penalty
- appeals.py     bonded appeals of a decision, decided by a larger, disjoint panel
- moderation.py  quorum creation, parameters and trust, staff moderation (pause, jail, fraud cases, parked tasks)

Callers import the package (`from quorums import services`); the names below are its surface."""

from __future__ import annotations

from .appeals import appeal_file, appealable, panel_open
from .bonds import demo_accounts, demo_validators, unbonds_release_due, validator_bond, validator_unbond
from .moderation import (
    PARAMETERS,
    audit,
    fraud_case_decide,
    fraud_case_open,
    parked_resolve,
    quorum_create,
    quorum_parameters_clean,
    quorum_set_paused,
    quorum_update,
    round_force_close,
    trust_set,
    validator_set_state,
)
from .rounds import round_close, round_open, rounds_close, rounds_open
from .slashing import apply_slash
from .verdicts import verdict_submit, verdicts_submit

__all__ = [
    "PARAMETERS",
    "appeal_file",
    "appealable",
    "apply_slash",
    "audit",
    "demo_accounts",
    "demo_validators",
    "fraud_case_decide",
    "fraud_case_open",
    "panel_open",
    "parked_resolve",
    "quorum_create",
    "quorum_parameters_clean",
    "quorum_set_paused",
    "quorum_update",
    "round_close",
    "round_force_close",
    "round_open",
    "rounds_close",
    "rounds_open",
    "trust_set",
    "unbonds_release_due",
    "validator_bond",
    "validator_set_state",
    "validator_unbond",
    "verdict_submit",
    "verdicts_submit",
]
