"""Round scores: pure arithmetic on the committee's signed score vectors (no database), so
anyone can replay it from a round bundle (docs/validation.md, "Scores").

Per criterion, the round's score is the stake-weighted (lower) median of the verdicts that carry
scores: sort the values, and take the first whose cumulative stake reaches half the scored stake.
With three equal seats one outlier, however extreme, cannot move it. The composite is
Σ weight·score / 10000 (integer division), by the quorum's weights."""

from __future__ import annotations

from collections.abc import Mapping

from .eip712 import CRITERIA

BPS = 10_000


def weighted_median(values: list[tuple[int, int]]) -> int:
    """values: (score, stake) pairs, stake > 0. The smallest score whose cumulative stake is at
    least half the total (2·cumulative ≥ total)."""
    ordered = sorted((int(v), int(s)) for v, s in values if int(s) > 0)
    total = sum(s for _, s in ordered)
    acc = 0
    for value, stake in ordered:
        acc += stake
        if 2 * acc >= total:
            return value
    raise ValueError("a median needs at least one value with stake")


def composite(scores: Mapping[str, int], weights: Mapping[str, int]) -> int:
    total = sum(int(weights.get(c, 0)) for c in CRITERIA)
    if total <= 0:
        return 0
    return sum(int(weights.get(c, 0)) * int(scores[c]) for c in CRITERIA) // total


def round_scores(
    vectors: Mapping[int, Mapping[str, int]], stakes: Mapping[int, int], weights: Mapping[str, int]
) -> dict[str, int]:
    """vectors: validator id -> {criterion: bps}; stakes: validator id -> seat stake. The median
    per criterion plus "composite"; {} when no seated validator signed scores."""
    seated = {vid: v for vid, v in vectors.items() if stakes.get(vid, 0) > 0}
    if not seated:
        return {}
    out = {c: weighted_median([(v[c], stakes[vid]) for vid, v in seated.items()]) for c in CRITERIA}
    out["composite"] = composite(out, weights)
    return out


def below_minimums(scores: Mapping[str, int], minimums: Mapping[str, int]) -> list[str]:
    """The criteria (and "composite") under their minimum; [] when the round was not scored."""
    if not scores:
        return []
    return [name for name in (*CRITERIA, "composite") if int(scores.get(name, 0)) < int(minimums.get(name, 0))]


def clean_weights(weights: object) -> dict[str, int]:
    """A weights mapping with every criterion, each 0–10000, summing to 10000; ValueError else."""
    if not isinstance(weights, dict) or set(weights) != set(CRITERIA):
        raise ValueError(f"Weights name exactly the criteria {', '.join(CRITERIA)}.")
    out = {c: int(weights[c]) for c in CRITERIA}
    if any(not 0 <= v <= BPS for v in out.values()) or sum(out.values()) != BPS:
        raise ValueError("Each weight is 0–10000 basis points and together they make 10000.")
    return out


def clean_minimums(minimums: object) -> dict[str, int]:
    names = (*CRITERIA, "composite")
    if not isinstance(minimums, dict) or not set(minimums) <= set(names):
        raise ValueError(f"Minimums name criteria among {', '.join(names)}.")
    out = {n: int(minimums.get(n, 0)) for n in names}
    if any(not 0 <= v <= BPS for v in out.values()):
        raise ValueError("Each minimum is 0–10000 basis points.")
    return out
