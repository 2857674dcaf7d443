"""Score vectors from the node's checks: four criteria in basis points (0–10000), each with the
check results behind it (reason codes and figures), so a contributor can read why.

    authenticity  integrity (hash, size), type, encoding: are these the bytes, of the kind claimed?
    ownership     personal data (data about other people is not the contributor's to give)
    quality       structure (does it parse) and emptiness (is there data)
    uniqueness    near-duplicates of already accepted content

The rules are plain integer arithmetic on the checks' figures (docs/validation.md, "Scores"):
an objective failure (hash, type, parse, near-empty) is 0 for its criterion; personal data
takes the share of records holding it off ownership, doubled; a near-duplicate takes its
similarity off uniqueness. The evidence string is what the node signs beside the scores."""

from __future__ import annotations

import json
from typing import Any

from .checks.base import Result

CRITERIA = ("authenticity", "ownership", "quality", "uniqueness")
BPS = 10_000
MAX_EVIDENCE = 4000  # characters of signed evidence (the portal's limit)

_CRITERION_OF_CHECK = {
    "integrity": "authenticity",
    "type": "authenticity",
    "encoding": "authenticity",
    "pii": "ownership",
    "structure": "quality",
    "emptiness": "quality",
    "duplicates": "uniqueness",
}
_KEPT_FIGURES = {
    "integrity": ("size",),
    "type": ("sniffed", "declared"),
    "encoding": ("encoding", "control_bytes"),
    "pii": ("records", "records_with_pii", "share"),
    "structure": ("format", "rows", "columns"),
    "emptiness": ("non_whitespace_bytes", "min_bytes"),
    "duplicates": ("similarity", "of"),
}


def _check_score(r: Result) -> int:
    """What one check allows its criterion (the criterion takes the lowest of its checks)."""
    if r.passed:
        return BPS if r.code == "ok" else 9_500  # a note (a byte-order mark) costs a little
    if r.check == "pii":
        share = float(r.figures.get("share") or 0.0)
        return max(0, BPS - min(BPS, round(share * 2 * BPS)))
    if r.check == "duplicates":
        similarity = float(r.figures.get("similarity") or 1.0)
        return max(0, BPS - min(BPS, round(similarity * BPS)))
    if r.check == "encoding":
        return 2_500
    return 0  # hash, size, type, executable, parse error, near empty: objective


def score_vector(results: list[Result]) -> dict[str, dict[str, Any]]:
    """{criterion: {"score": bps, "checks": [{"check", "code", "figures"}]}} for every criterion.
    A criterion whose checks did not run (the hash failed first) scores 0 when the integrity check
    failed, else 10000."""
    integrity_failed = any(r.check == "integrity" and not r.passed for r in results)
    out: dict[str, dict[str, Any]] = {c: {"score": 0 if integrity_failed else BPS, "checks": []} for c in CRITERIA}
    for r in results:
        criterion = _CRITERION_OF_CHECK.get(r.check)
        if criterion is None:
            continue
        entry = out[criterion]
        entry["score"] = min(entry["score"], _check_score(r))
        figures = {k: r.figures[k] for k in _KEPT_FIGURES.get(r.check, ()) if r.figures.get(k) is not None}
        entry["checks"].append({"check": r.check, "code": r.code, "figures": figures})
    return out


def scores_of(vector: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {c: int(vector[c]["score"]) for c in CRITERIA}


def evidence_json(vector: dict[str, dict[str, Any]]) -> str:
    """The signed evidence: compact JSON `{criterion: [[check, code, figures], …]}`; figures are
    dropped (codes kept) when the whole would pass MAX_EVIDENCE characters."""
    full = {c: [[x["check"], x["code"], x["figures"]] for x in vector[c]["checks"]] for c in CRITERIA}
    text = json.dumps(full, separators=(",", ":"), sort_keys=True)
    if len(text) <= MAX_EVIDENCE:
        return text
    bare = {c: [[x["check"], x["code"], {}] for x in vector[c]["checks"]] for c in CRITERIA}
    return json.dumps(bare, separators=(",", ":"), sort_keys=True)[:MAX_EVIDENCE]
