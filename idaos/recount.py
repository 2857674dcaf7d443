"""Recount a proposal from its stored ballots alone: verify each signature, pick each voter's
latest ballot by signed timestamp, and recompute the tally and the Merkle root."""

from __future__ import annotations

from typing import Any

from . import eip712, tally
from .models import Ballot, Proposal


def recount(proposal: Proposal) -> dict[str, Any]:
    problems: list[str] = []
    latest: dict[str, Ballot] = {}
    total = valid = 0
    for b in Ballot.objects.filter(proposal=proposal).order_by("id").iterator(chunk_size=2000):
        total += 1
        try:
            signer, digest = eip712.verify(b.message, b.signature)
        except Exception:  # a corrupt row is a finding, not a crash
            problems.append(f"ballot {b.pk}: the signature cannot be recovered")
            continue
        if signer != b.voter or digest != b.digest:
            problems.append(f"ballot {b.pk}: signature or digest does not match the stored voter/digest")
            continue
        if b.message.get("proposal") != proposal.pk or b.message.get("idao") != proposal.idao.slug:
            problems.append(f"ballot {b.pk}: signed for another proposal or iDAO")
            continue
        valid += 1
        if b.voter not in latest or b.timestamp > latest[b.voter].timestamp:
            latest[b.voter] = b
    sums: dict[str, int] = {}
    for b in latest.values():
        sums[b.choice] = sums.get(b.choice, 0) + int(b.weight)
    counted_ids = set(Ballot.objects.filter(proposal=proposal, counted=True).values_list("id", flat=True))
    if counted_ids != {b.pk for b in latest.values()}:
        problems.append("the ballots marked counted differ from each voter's latest valid ballot")
    result = tally.compute(
        sums=sums,
        voters=len(latest),
        eligible=int(proposal.eligible_power),
        quorum_bps=proposal.quorum_bps or 0,
        threshold_bps=proposal.approval_threshold_bps or proposal.idao.approval_threshold_bps,
    )
    root = tally.ballots_root(sorted((b.voter, b.digest, int(b.weight)) for b in latest.values()))
    if proposal.tally:
        for key in ("for", "against", "abstain", "eligible", "outcome"):
            if proposal.tally.get(key) != result[key]:
                problems.append(f"recorded tally {key}={proposal.tally.get(key)} but recount gives {result[key]}")
        if proposal.ballots_root and proposal.ballots_root != root:
            problems.append(f"recorded ballots root {proposal.ballots_root} but recount gives {root}")
    return {
        "proposal": proposal.pk,
        "ballots": total,
        "valid": valid,
        "counted": len(latest),
        "tally": result,
        "ballots_root": root,
        "problems": problems,
    }
