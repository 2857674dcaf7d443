"""Voting power and tallies: pure functions, so the live page, the closer and `recount` agree.

- one_member_one_vote: weight 1 per member.
- stake_weighted: weight = LAZ balance (base units) at activation.
- quadratic: weight = floor(sqrt(LAZ balance in base units)) at activation.
Quorum: (for + against + abstain) * 10000 >= quorum_bps * eligible power.
Approval: for * 10000 >= approval_threshold_bps * (for + against), with at least one for/against
weight; reaching a threshold exactly meets it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
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


# Signals with several options (docs/governance.md "Signals with several options"). A ballot is
# (options, weight): the chosen option (single), the approved ones (approval) or the ranking, most
# preferred first (ranked); `weight` is what its voter's counted ballot carries, delegated weight
# included (delegation.counted_weights: delegated weight follows the delegate's ballot, whatever
# its shape).
METHODS = ("single", "approval", "ranked")


def is_multi_option(kind: str, payload: object) -> bool:
    """A signal with several options (the SQL function's `kind = 'signal' AND payload ? 'options'`)."""
    return kind == "signal" and isinstance(payload, dict) and "options" in payload


def instant_runoff(count: int, ballots: Iterable[tuple[Sequence[int], int]]) -> list[dict[str, object]]:
    """The rounds of an instant runoff over options 0..count-1. Each round gives every ballot's
    weight to its most preferred option still in the race (a ballot ranking none of them is
    exhausted and left out of the round's total). An option with more than half of the round's
    total wins. Otherwise the option with the least weight is eliminated (a tie for least
    eliminates the one listed last among them) and the next round begins. When two options
    remain tied, nobody wins (the last round has `winner` None)."""
    ballots = [(list(ranking), int(weight)) for ranking, weight in ballots if int(weight) > 0]
    remaining = list(range(count))
    rounds: list[dict[str, object]] = []
    while remaining:
        counts = dict.fromkeys(remaining, 0)
        exhausted = 0
        for ranking, weight in ballots:
            top = next((o for o in ranking if o in counts), None)
            if top is None:
                exhausted += weight
            else:
                counts[top] += weight
        total = sum(counts.values())
        leader = max(remaining, key=lambda o: (counts[o], -o))
        step: dict[str, object] = {
            "counts": [str(counts[o]) if o in counts else None for o in range(count)],
            "continuing": str(total),
            "exhausted": str(exhausted),
            "winner": None,
            "eliminated": None,
        }
        rounds.append(step)
        if total > 0 and counts[leader] * 2 > total:
            step["winner"] = leader
            return rounds
        if len(remaining) <= 2 or total == 0:
            # Two options tied (or nothing left to count): no majority is possible.
            if len(remaining) == 1 and total > 0:
                step["winner"] = remaining[0]
            return rounds
        least = min(counts.values())
        loser = max(o for o in remaining if counts[o] == least)
        step["eliminated"] = loser
        remaining.remove(loser)
    return rounds


def compute_options(
    *,
    method: str,
    options: Sequence[str],
    ballots: Iterable[tuple[Sequence[int], int]],
    voters: int,
    eligible: int,
    quorum_bps: int,
) -> dict[str, object]:
    """The tally of a signal with options. `totals` per option: the weight that chose it (single),
    approved it (approval) or ranked it first (ranked). The winner: the option with the most
    weight (single, approval; a tie for most has no winner) or the instant runoff's. Outcome:
    quorum_not_met, passed (an option won) or rejected (a tie). Quorum is as for any proposal:
    cast weight * 10000 >= quorum_bps * eligible power."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    ballots = [(list(picked), int(weight)) for picked, weight in ballots]
    count = len(options)
    cast = sum(w for _, w in ballots)
    totals = [0] * count
    for picked, weight in ballots:
        for o in picked[:1] if method != "approval" else picked:
            totals[o] += weight
    rounds: list[dict[str, object]] = []
    if method == "ranked":
        rounds = instant_runoff(count, ballots)
        winner = rounds[-1]["winner"] if rounds else None
    else:
        best = max(totals) if totals else 0
        leaders = [o for o in range(count) if totals[o] == best]
        winner = leaders[0] if best > 0 and len(leaders) == 1 else None
    quorum_reached = eligible > 0 and cast * 10000 >= quorum_bps * eligible
    if not quorum_reached:
        outcome = "quorum_not_met"
    elif winner is not None:
        outcome = "passed"
    else:
        outcome = "rejected"
    return {
        "method": method,
        "options": list(options),
        "totals": [str(t) for t in totals],
        "rounds": rounds,
        "winner": winner,
        "cast": str(cast),
        "voters": voters,
        "eligible": str(eligible),
        "quorum_bps": quorum_bps,
        "participation_bps": (cast * 10000 // eligible) if eligible else 0,
        "quorum_reached": quorum_reached,
        "outcome": outcome,
    }
