"""Voting power and tallies: pure functions, so the live page, the closer and `recount` agree.

- one_member_one_vote: weight 1 per member.
- stake_weighted: weight = LAZ balance (base units) at activation.
- quadratic: weight = floor(sqrt(LAZ balance in base units)) at activation.
Quorum: (for + against + abstain) * 10000 >= quorum_bps * eligible power.
Approval: for * 10000 >= approval_threshold_bps * (for + against), with at least one for/against
weight; reaching a threshold exactly meets it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from math import isqrt

from ledger import merkle

from .models import VotingRule

CHOICES = ("for", "against", "abstain")
# The format of /proposals/<id>/ballots.json, which idaos.recount checks offline.
EXPORT_FORMAT = "idao-proposal-export/1"
BALLOT_LEAF_ENCODING = ("address", "bytes32", "uint256")


def weight_for(rule: str, balance: int) -> int:
    if rule == VotingRule.ONE_MEMBER_ONE_VOTE:
        return 1
    if rule == VotingRule.STAKE_WEIGHTED:
        return max(int(balance), 0)
    if rule == VotingRule.QUADRATIC:
        return isqrt(max(int(balance), 0))
    raise ValueError(f"unknown voting rule {rule!r}")


def latest_per_voter(ballots: Iterable[tuple[str, int, Hashable]]) -> dict[str, Hashable]:
    """voter -> key of the ballot the tally counts, from (voter, signed timestamp, key): each voter's
    latest ballot by signed timestamp (the record path refuses a ballot that is not later than the
    counted one, so timestamps of one voter's accepted ballots are distinct)."""
    latest: dict[str, tuple[int, Hashable]] = {}
    for voter, timestamp, key in ballots:
        if voter not in latest or timestamp > latest[voter][0]:
            latest[voter] = (timestamp, key)
    return {voter: key for voter, (_, key) in latest.items()}


def sums_of(counted: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Total weight per choice from (choice, weight) of the counted ballots."""
    sums: dict[str, int] = {}
    for choice, weight in counted:
        sums[choice] = sums.get(choice, 0) + int(weight)
    return sums


def compute(
    *, sums: Mapping[str, int], voters: int, eligible: int, quorum_bps: int, threshold_bps: int
) -> dict[str, object]:
    f, a, ab = (int(sums.get(c, 0)) for c in CHOICES)
    cast = f + a + ab
    quorum_reached = eligible > 0 and cast * 10000 >= quorum_bps * eligible
    approval_reached = (f + a) > 0 and f * 10000 >= threshold_bps * (f + a)
    if not quorum_reached:
        outcome = "quorum_not_met"
    elif approval_reached:
        outcome = "passed"
    else:
        outcome = "rejected"
    return {
        # Big integers travel as strings: weights may exceed JavaScript's safe integers.
        "for": str(f),
        "against": str(a),
        "abstain": str(ab),
        "cast": str(cast),
        "voters": voters,
        "eligible": str(eligible),
        "quorum_bps": quorum_bps,
        "approval_threshold_bps": threshold_bps,
        "participation_bps": (cast * 10000 // eligible) if eligible else 0,
        "approval_bps": (f * 10000 // (f + a)) if (f + a) else 0,
        "quorum_reached": quorum_reached,
        "approval_reached": approval_reached,
        "outcome": outcome,
    }


def ballot_leaf(voter: str, digest: str, weight: int) -> bytes:
    return merkle.leaf_hash(BALLOT_LEAF_ENCODING, [voter, merkle.from_hex(digest), int(weight)])


def ballots_root(rows: Iterable[tuple[str, str, int]]) -> str:
    """OpenZeppelin StandardMerkleTree root over (voter, ballot digest, weight) of counted ballots;
    the zero hash when nobody voted."""
    leaves = [ballot_leaf(v, d, w) for v, d, w in rows]
    return merkle.to_hex(merkle.root_of(leaves) if leaves else merkle.ZERO_HASH)
