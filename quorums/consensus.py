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


def draw_committee(seed: bytes, candidates: list, size: int) -> list[int]:
    """Stake-weighted sampling without replacement, integers only, so anyone re-derives it.

    candidates: (validator id, stake) pairs or (validator id, address, stake) rows as a round
    records them (the first and last items are used); sorted by id here so input order does not matter.
    Draw i takes keccak(seed ‖ i) mod the remaining stake and walks the cumulative stakes."""
    pool = sorted((int(row[0]), int(row[-1])) for row in candidates if int(row[-1]) > 0)
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


ZERO_HASH = "0x" + "00" * 32  # the "latest sealed block" before the ledger's first block


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}: {value!r}")
    return raw


def round_seed(
    *,
    block_hash: str,
    quorum_id: int,
    round_id: int,
    content_hash: str,
    attempt: int,
    beacon_hash: str | None = None,
) -> str:
    """The committee seed, from public values fixed before the round:
    keccak256(latest sealed block hash at opening ‖ uint256 quorum id ‖ uint256 round id ‖
    contentHash ‖ uint256 attempt [‖ hash of the first public-chain block after the opening]).
    Nothing secret and nothing the operator picks at the draw goes in (docs/validation.md)."""
    data = (
        _bytes32(block_hash)
        + int(quorum_id).to_bytes(32, "big")
        + int(round_id).to_bytes(32, "big")
        + _bytes32(content_hash)
        + int(attempt).to_bytes(32, "big")
    )
    if beacon_hash:
        data += _bytes32(beacon_hash)
    return "0x" + keccak(data).hex()


def verdicts_digest(signatures: Iterable[str]) -> str:
    """keccak256 over the sorted, 0x-stripped signatures: one value that commits to all verdicts."""
    joined = b"".join(bytes.fromhex(s.removeprefix("0x")) for s in sorted(s.lower() for s in signatures))
    return "0x" + keccak(joined).hex()
