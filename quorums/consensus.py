"""Pure consensus and committee arithmetic: no database, so tests and auditors can replay it.

Stake-weighted over the committee: a side wins when its verdicts carry at least `threshold_bps`
of the committee's snapshot stake. Equivocators' verdicts count for no side."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils import keccak

BPS = 10_000


@dataclass(frozen=True)
class Tally:
    committee_stake: int
    approve_stake: int
    reject_stake: int
    voted_stake: int

    def share(self, stake: int) -> float:
        return stake / self.committee_stake if self.committee_stake else 0.0


def tally(seats: Mapping[int, int], votes: Mapping[int, str], equivocators: Iterable[int] = ()) -> Tally:
    """seats: validator id -> snapshot stake; votes: validator id -> 'approve' | 'reject'."""
    excluded = set(equivocators)
    approve = sum(seats[v] for v, verdict in votes.items() if v in seats and v not in excluded and verdict == "approve")
    reject = sum(seats[v] for v, verdict in votes.items() if v in seats and v not in excluded and verdict == "reject")
    voted = sum(seats[v] for v in set(votes) | excluded if v in seats)
    return Tally(sum(seats.values()), approve, reject, voted)


def decisive(t: Tally, threshold_bps: int) -> str | None:
    """'accepted' / 'rejected' once a side holds the threshold share of committee stake."""
    if t.committee_stake <= 0:
        return None
    if t.approve_stake * BPS >= threshold_bps * t.committee_stake:
        return "accepted"
    if t.reject_stake * BPS >= threshold_bps * t.committee_stake:
        return "rejected"
    return None


def outcome_at_deadline(t: Tally, threshold_bps: int, min_participation_bps: int) -> str:
    """At the deadline: a decisive side wins; otherwise (or below participation) inconclusive."""
    if t.committee_stake and t.voted_stake * BPS < min_participation_bps * t.committee_stake:
        return "inconclusive"
    return decisive(t, threshold_bps) or "inconclusive"


def slash_amount(stake: int, rate_bps: int) -> int:
    return max(0, min(stake, stake * rate_bps // BPS))


def draw_committee(seed: bytes, candidates: list[tuple[int, int]], size: int) -> list[int]:
    """Stake-weighted sampling without replacement, integers only, so anyone re-derives it.

    candidates: (validator id, stake) pairs; sorted by id here so input order does not matter.
    Draw i takes keccak(seed ‖ i) mod the remaining stake and walks the cumulative stakes."""
    pool = sorted((vid, stake) for vid, stake in candidates if stake > 0)
    chosen: list[int] = []
    for i in range(min(size, len(pool))):
        total = sum(stake for _, stake in pool)
        point = int.from_bytes(keccak(seed + i.to_bytes(32, "big")), "big") % total
        acc = 0
        for index, (vid, stake) in enumerate(pool):
            acc += stake
            if point < acc:
                chosen.append(vid)
                del pool[index]
                break
    return chosen


def verdicts_digest(signatures: Iterable[str]) -> str:
    """keccak256 over the sorted, 0x-stripped signatures: one value that commits to all verdicts."""
    joined = b"".join(bytes.fromhex(s.removeprefix("0x")) for s in sorted(s.lower() for s in signatures))
    return "0x" + keccak(joined).hex()
