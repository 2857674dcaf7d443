"""Round bundles: everything needed to re-derive a validation round offline, and the checker.

Format `idao-validation-round/1` (docs/validation.md), exported at `/rounds/<id>/bundle.json`:
    {"format", "round", "eip712": {domain, types, primaryType}, "seed", "candidates", "committee",
     "verdicts": [{validator, verdict, reason, signature}], "outcome",
     "open": proof, "close": proof, "seed_headers": [header, …], "draw": proof | null}
where `open` and `close` are ledger proof bundles (`idao-ledger-proof/1`) of the round's anchored
open record (seed inputs, seed, candidates, committee) and close record (committee, tally,
verdicts digest, outcome), and `seed_headers` chain the ledger block the seed took its hash from
to the block holding the open record. With a public chain configured, `draw` is the proof of the
round's draw record (the chain block, its number and hash, the seed and the committee), anchored
once that block existed; without one it is null. `verify` needs no database: `manage.py verify_round` runs it,
with the same draw and tally functions the portal uses (quorums.consensus)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger import proofs

from .consensus import ZERO_HASH, decisive, draw_committee, outcome_at_deadline, round_seed, tally, verdicts_digest
from .eip712 import CRITERIA, SCORED_PRIMARY, SCORED_TYPES, VERDICT_TYPES, recover_signer
from .scores import below_minimums, round_scores

FORMAT = "idao-validation-round/1"
FIELDS = {
    "format",
    "round",
    "eip712",
    "seed",
    "candidates",
    "committee",
    "verdicts",
    "outcome",
    "open",
    "close",
    "seed_headers",
    "draw",
}


class InvalidRoundBundle(ValueError):
    """The bundle does not prove what it claims; the message names the first mismatch."""


@dataclass
class Report:
    round_id: int | None = None
    outcome: str = ""
    checks: list[str] = field(default_factory=list)
    head: dict[str, Any] = field(default_factory=dict)


def _payload(proof: Any, *, kind: str, subject: str, what: str) -> dict[str, Any]:
    try:
        proofs.check_proof(proof)
    except (proofs.InvalidProof, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidRoundBundle(f"{what}: {exc}") from None
    leaf = proof["leaf"]
    if leaf["kind"] != kind or leaf["subject"] != subject:
        raise InvalidRoundBundle(
            f"{what}: the anchored record is {leaf['kind']} {leaf['subject']}, not {kind} {subject}"
        )
    payload = json.loads(leaf["payload"])
    if not isinstance(payload, dict):
        raise InvalidRoundBundle(f"{what}: the anchored payload is not an object")
    return payload


def verify(bundle: Any) -> Report:
    """Raise InvalidRoundBundle naming the first mismatch, or return what was checked."""
    if isinstance(bundle, dict) and set(bundle) == FIELDS - {"draw"}:
        bundle = {**bundle, "draw": None}  # exported before draw records existed
    if not isinstance(bundle, dict) or set(bundle) != FIELDS:
        raise InvalidRoundBundle(f"a round bundle has exactly {', '.join(sorted(FIELDS))}")
    if bundle["format"] != FORMAT:
        raise InvalidRoundBundle(f"unknown format (expected {FORMAT})")
    round_id = bundle["round"]
    if type(round_id) is not int or round_id <= 0:
        raise InvalidRoundBundle("round is a positive integer")
    report = Report(round_id=round_id)
    opened = _payload(
        bundle["open"], kind="validation_round_open", subject=f"round-open:{round_id}", what="open record"
    )
    closed = _payload(bundle["close"], kind="validation_round", subject=f"round:{round_id}", what="close record")
    report.checks.append("the open and close records are anchored in sealed blocks (Merkle proofs and headers)")

    # 1. The seed: the bundle's seed is the anchored one, and follows from its public inputs.
    if opened.get("round") != round_id or closed.get("round") != round_id:
        raise InvalidRoundBundle("the anchored records name another round")
    drawn_record, beacon = _draw_record(bundle, opened, round_id)
    anchored_seed = drawn_record.get("seed") if drawn_record else opened.get("seed")
    if bundle["seed"] != anchored_seed or closed.get("seed") != anchored_seed:
        raise InvalidRoundBundle("seed: the bundle's seed is not the one anchored when the committee was drawn")
    block = opened.get("seed_block") or {}
    try:
        seed = round_seed(
            block_hash=block.get("hash") or ZERO_HASH,
            quorum_id=opened["quorum"],
            round_id=round_id,
            content_hash=opened["content_hash"],
            attempt=opened["attempt"],
            beacon_hash=beacon.get("hash") if beacon else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRoundBundle(f"seed: its inputs are malformed ({exc})") from None
    if seed != bundle["seed"]:
        raise InvalidRoundBundle(f"seed: keccak of the anchored inputs is {seed}, not {bundle['seed']}")
    _check_seed_block(bundle, block)
    if beacon:
        report.checks.append(
            f"seed {seed} = keccak(ledger block {block.get('height')} hash ‖ quorum ‖ round ‖ content hash ‖ attempt"
            f" ‖ chain {beacon['chain_id']} block {beacon['number']} hash {beacon['hash']}, timestamp"
            f" {beacon['timestamp']} after the opening second {opened['beacon']['after']}); confirm that hash, and"
            " that the block before it is not after the opening, on any node of that chain"
        )
    else:
        report.checks.append(
            f"seed {seed} = keccak(ledger block {block.get('height')} hash ‖ quorum ‖ round ‖ content hash ‖ attempt)"
        )

    # 2. The committee: the same draw over the anchored candidates.
    candidates = bundle["candidates"]
    if candidates != opened.get("candidates"):
        raise InvalidRoundBundle("candidates: the bundle's candidates are not the ones anchored at opening")
    if not isinstance(candidates, list) or not all(isinstance(c, list) and len(c) == 3 for c in candidates):
        raise InvalidRoundBundle("candidates are [validator id, address, stake] rows")
    by_id = {int(c[0]): c for c in candidates}
    chosen = draw_committee(bytes.fromhex(seed[2:]), candidates, int(opened.get("committee_size") or 0))
    drawn = [[vid, by_id[vid][1], int(by_id[vid][2])] for vid in chosen]
    anchored_committee = drawn_record.get("committee") if drawn_record else opened.get("committee")
    if bundle["committee"] != anchored_committee or sorted(drawn) != sorted(bundle["committee"]):
        raise InvalidRoundBundle(f"committee: the draw from the seed and candidates gives {sorted(drawn)}")
    seats = {address.lower(): stake for _vid, address, stake in drawn}
    if sorted([a.lower(), int(s)] for a, s in closed.get("committee", [])) != sorted([a, s] for a, s in seats.items()):
        raise InvalidRoundBundle("committee: the close record's committee is not the drawn one")
    report.checks.append(f"committee of {len(drawn)} re-drawn from the seed and {len(candidates)} candidates")

    # 3. The verdicts: each signature recovers to a committee member, for this round and content.
    domain = (bundle["eip712"] or {}).get("domain")
    votes: dict[str, str] = {}
    vectors: dict[str, dict[str, int]] = {}
    equivocators: set[str] = set()
    signatures = []
    for i, v in enumerate(bundle["verdicts"]):
        message = {
            "validator": v.get("validator"),
            "round": round_id,
            "contentHash": opened["content_hash"],
            "verdict": v.get("verdict"),
            "reason": v.get("reason", ""),
        }
        if v.get("scores") is not None:  # a ScoredVerdict (EIP-712 version 2)
            scores = v["scores"] if isinstance(v["scores"], dict) else {}
            message.update({c: scores.get(c) for c in CRITERIA}, evidence=v.get("evidence", ""))
            typed = {"types": SCORED_TYPES, "primaryType": SCORED_PRIMARY, "domain": domain, "message": message}
        else:
            typed = {"types": VERDICT_TYPES, "primaryType": "Verdict", "domain": domain, "message": message}
        try:
            signer = recover_signer(typed, v.get("signature", ""))
        except (ValueError, TypeError) as exc:
            raise InvalidRoundBundle(f"verdict {i + 1}: {exc}") from None
        if signer.lower() != str(v.get("validator", "")).lower():
            raise InvalidRoundBundle(f"verdict {i + 1}: signed by {signer}, not by {v.get('validator')}")
        voter = signer.lower()
        if voter not in seats:
            raise InvalidRoundBundle(f"verdict {i + 1}: {signer} is not on the committee")
        if voter in votes:
            equivocators.add(voter)
        votes.setdefault(voter, v["verdict"])
        if v.get("scores") is not None:
            vectors.setdefault(voter, v["scores"])
        signatures.append(v["signature"])
    if verdicts_digest(signatures) != closed.get("verdicts_digest"):
        raise InvalidRoundBundle(
            "verdicts: their digest is not the one anchored at close (a verdict is missing or extra)"
        )
    report.checks.append(f"{len(signatures)} verdict signature(s) recovered to committee members; digest matches")

    # 4. The tally and the outcome.
    t = tally(seats, votes, equivocators)  # type: ignore[arg-type]  # keyed by address in a bundle; tally only compares keys
    tally_json = {
        "committee": t.committee_stake,
        "approve": t.approve_stake,
        "reject": t.reject_stake,
        "voted": t.voted_stake,
    }
    if tally_json != closed.get("tally"):
        raise InvalidRoundBundle(f"tally: the verdicts give {tally_json}, the close record {closed.get('tally')}")
    threshold, participation = opened.get("threshold_bps"), opened.get("min_participation_bps")
    if not isinstance(threshold, int) or not isinstance(participation, int):
        raise InvalidRoundBundle("open record: threshold_bps and min_participation_bps are integers")
    # 5. The round's score: the stake-weighted median of the signed vectors (quorums.scores).
    weights = opened.get("score_weights")
    round_score: dict[str, int] = {}
    if isinstance(weights, dict):
        scored = {a: vec for a, vec in vectors.items() if a not in equivocators}
        round_score = round_scores(scored, seats, weights)  # type: ignore[arg-type]  # keyed by address here
        if round_score != closed.get("scores", {}):
            raise InvalidRoundBundle(
                f"scores: the verdicts give {round_score}, the close record {closed.get('scores')}"
            )
    if closed.get("close_reason") == "threshold":
        expected = decisive(t, threshold)
    elif closed.get("close_reason") == "score_minimum":
        voted = decisive(t, threshold) or outcome_at_deadline(t, threshold, participation)
        short = below_minimums(round_score, opened.get("score_minimums") or {})
        expected = "rejected" if voted == "accepted" and short else voted
    else:
        expected = outcome_at_deadline(t, threshold, participation)
    if expected != closed.get("outcome") or bundle["outcome"] != closed.get("outcome"):
        raise InvalidRoundBundle(f"outcome: the tally gives {expected}, the bundle says {bundle['outcome']}")
    report.outcome = expected or ""
    report.head = bundle["close"]["headers"][-1]
    report.checks.append(f"tally recomputed; outcome {expected} ({closed.get('close_reason')})")
    return report


def _draw_record(
    bundle: dict[str, Any], opened: dict[str, Any], round_id: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(draw record, its chain block) when the open record waits for a public-chain block, else
    (None, None). The block is of the chain the open record named, and after its opening second."""
    promised = opened.get("beacon")
    if promised is None:
        if bundle["draw"] is not None:
            raise InvalidRoundBundle("draw: the open record names no public chain, so the bundle has no draw record")
        return None, None
    if bundle["draw"] is None:
        raise InvalidRoundBundle("draw: the open record waits for a public-chain block; the draw record is missing")
    record = _payload(
        bundle["draw"], kind="validation_round_draw", subject=f"round-draw:{round_id}", what="draw record"
    )
    beacon = record.get("beacon")
    if record.get("round") != round_id or not isinstance(beacon, dict) or not isinstance(promised, dict):
        raise InvalidRoundBundle("draw: the anchored draw record is not this round's")
    number, timestamp, after = beacon.get("number"), beacon.get("timestamp"), promised.get("after")
    if beacon.get("chain_id") != promised.get("chain_id"):
        raise InvalidRoundBundle(
            f"draw: the seed block is of chain {beacon.get('chain_id')}, the open record named {promised.get('chain_id')}"
        )
    if not (type(number) is int and type(timestamp) is int and type(after) is int) or number < 0:
        raise InvalidRoundBundle("draw: the chain block's number and timestamp and the opening second are integers")
    if timestamp <= after:
        raise InvalidRoundBundle(
            f"draw: chain block {number} has timestamp {timestamp}, not after the round opened ({after})"
        )
    if bundle["draw"]["block"]["height"] < bundle["open"]["block"]["height"]:
        raise InvalidRoundBundle("draw: the draw record is sealed before the open record")
    return record, beacon


def _check_seed_block(bundle: dict[str, Any], block: dict[str, Any]) -> None:
    """The block the seed hashed precedes the open record: its header chains to the open proof's block."""
    headers = bundle["seed_headers"]
    if not block.get("height"):
        if headers or (block.get("hash") or ZERO_HASH) != ZERO_HASH:
            raise InvalidRoundBundle("seed block: before the first block the seed takes the zero hash")
        return
    try:
        proofs.check_chain(headers)
    except proofs.InvalidProof as exc:
        raise InvalidRoundBundle(f"seed block: {exc}") from None
    first, last = headers[0], headers[-1]
    if first["height"] != block["height"] or first["blockHash"] != block["hash"]:
        raise InvalidRoundBundle("seed block: the headers do not start at the block the seed names")
    if last != bundle["open"]["block"]:
        raise InvalidRoundBundle("seed block: the headers do not lead to the block holding the open record")


# --- export (reads the database) ------------------------------------------------------------------


def export(round_id: int) -> dict[str, Any]:
    """The bundle of a closed round. Raises LeafNotSealed (409) while a record waits for a block,
    RoundNotFound, or RoundStillOpen (409)."""
    from ledger.models import Block
    from ledger.selectors import proof_bundle

    from .eip712 import domain
    from .errors import RoundNotFound, RoundStillOpen
    from .models import Round

    r = Round.objects.filter(pk=round_id).first()
    if r is None:
        raise RoundNotFound(f"There is no validation round {round_id}.")
    if not r.anchor_leaf_id or not r.open_anchor_leaf_id:
        raise RoundStillOpen(f"Round {round_id} has no anchored outcome yet; its bundle exists once it closes.")
    opened = proof_bundle(r.open_anchor_leaf_id)
    closed = proof_bundle(r.anchor_leaf_id)
    payload = json.loads(opened["leaf"]["payload"])
    drawn = proof_bundle(r.draw_anchor_leaf_id) if r.draw_anchor_leaf_id else None
    if drawn is not None:  # the committee was drawn once the public-chain block existed
        payload["committee"] = json.loads(drawn["leaf"]["payload"])["committee"]
    seed_headers: list[dict] = []
    if r.seed_block_height:
        seed_headers = [
            b.header()
            for b in Block.objects.filter(
                height__gte=r.seed_block_height, height__lte=opened["block"]["height"]
            ).order_by("height")
        ]
    verdicts = [
        {"validator": address, "verdict": verdict, "reason": reason, "signature": signature}
        | ({"scores": scores, "evidence": evidence} if scores is not None else {})
        for address, verdict, reason, signature, scores, evidence in r.verdicts.order_by("pk").values_list(
            "validator__address", "verdict", "reason", "signature", "scores", "evidence"
        )
    ]
    return {
        "format": FORMAT,
        "round": r.pk,
        "eip712": {"domain": domain(), "types": VERDICT_TYPES, "primaryType": "Verdict"},
        "seed": r.seed,
        "candidates": payload["candidates"],
        "committee": payload["committee"],
        "verdicts": verdicts,
        "outcome": r.outcome,
        "open": opened,
        "close": closed,
        "seed_headers": seed_headers,
        "draw": drawn,
    }
