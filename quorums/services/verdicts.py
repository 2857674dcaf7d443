"""Signed verdicts: each is checked as if alone (its EIP-712 signature, its round, its
signer's seat), recorded exactly as signed, and equivocation kept as evidence. A round that the
new verdicts made decisive is closed by a task enqueued after commit (quorums.services.rounds)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction

from portal import signatures
from portal.errors import DomainError
from portal.models import checksum
from portal.sql import bulk_insert

from .. import hooks
from ..eip712 import (
    CRITERIA,
    MAX_EVIDENCE,
    VERDICTS,
    _digest_bytes,
    as_bytes32_hex,
    is_scored,
    recover_signer,
    scored_verdict_typed_data,
    verdict_typed_data,
)
from ..errors import BadSignature, InvalidVerdict, NotInCommittee, RoundClosed, RoundNotFound, WrongRound
from ..models import Equivocation, Round, RoundState, Seat, Verdict
from .rounds import _Ballots, _count, _decided, _enqueue_close, _locked_many

# EIP-55 of the few addresses validators sign with, remembered (keccak per call otherwise); a
# malformed address raises each time (exceptions are not cached).
_checksum = lru_cache(maxsize=4096)(checksum)


@dataclass(frozen=True)
class VerdictResult:
    verdict: Verdict
    equivocation: Equivocation | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class _Checked:
    index: int
    round_id: int
    signer: str
    verdict: str
    reason: str
    signature: str
    digest: str
    verification: signatures.Verification
    scores: dict[str, int] | None = None
    evidence: str = ""


def _scores_of(message: dict[str, Any]) -> tuple[dict[str, int] | None, str]:
    """A ScoredVerdict's scores (each an integer 0–10000) and evidence; (None, "") for a Verdict."""
    if not is_scored(message):
        return None, ""
    scores = {}
    for c in CRITERIA:
        value = message.get(c)
        if type(value) is not int or not 0 <= value <= 10_000:
            raise InvalidVerdict(f"A scored verdict's {c} is an integer from 0 to 10000 (basis points).")
        scores[c] = value
    evidence = message.get("evidence")
    if not isinstance(evidence, str) or len(evidence) > MAX_EVIDENCE:
        raise InvalidVerdict(f"A scored verdict's evidence is text of at most {MAX_EVIDENCE} characters.")
    return scores, evidence


def _check_signed(
    r: Round | None, round_id: int, message: Any, signature: Any
) -> tuple[str, str, str, str, signatures.Verification, dict[str, int] | None, str]:
    """(signer, verdict, reason, digest, verification, scores, evidence) of a well-formed verdict
    (EIP-712 version 1 `Verdict` or version 2 `ScoredVerdict`) signed for this
    round's content by the validator it names, verified by portal.signatures.verify on the
    portal's chain (an EOA by ECDSA with no RPC call; a contract wallet by ERC-1271, the legacy
    form or ERC-6492); the refusals verdict_submit documents otherwise. No writes."""
    if not isinstance(message, dict):
        raise InvalidVerdict("The signed verdict is malformed: the message is not an object.")
    verdict, reason = message.get("verdict"), str(message.get("reason") or "")
    if verdict not in VERDICTS:
        raise InvalidVerdict(f"A verdict is one of {', '.join(VERDICTS)}.")
    if len(reason) > 500:
        raise InvalidVerdict("A verdict's reason is at most 500 characters.")
    if verdict == "reject" and not reason.strip():
        raise InvalidVerdict("A rejection needs a reason.")
    scores, evidence = _scores_of(message)
    if r is None:
        raise RoundNotFound(f"There is no validation round {round_id}.")
    try:
        signed_round = int(message.get("round"))  # type: ignore[arg-type]  # a missing round raises TypeError, caught
        signed_hash = as_bytes32_hex(str(message.get("contentHash")))
        claimed = _checksum(str(message.get("validator")))
    except (TypeError, ValueError) as exc:
        raise InvalidVerdict(f"The signed verdict is malformed: {exc}") from None
    if signed_round != r.pk or signed_hash != r.content_hash:
        raise WrongRound(
            f"This verdict was signed for round {signed_round} and content {signed_hash[:10]}…, "
            f"not round {r.pk} with content {r.content_hash[:10]}…."
        )
    if scores is None:
        typed = verdict_typed_data(
            validator=claimed, round_id=r.pk, content_hash=r.content_hash, verdict=verdict, reason=reason
        )
    else:
        typed = scored_verdict_typed_data(
            validator=claimed,
            round_id=r.pk,
            content_hash=r.content_hash,
            verdict=verdict,
            reason=reason,
            scores=scores,
            evidence=evidence,
        )
    try:
        digest = _digest_bytes(typed)
    except Exception as exc:  # the generic encoder refuses a mis-checksummed address
        raise BadSignature(f"The signature cannot be recovered: {exc}") from None
    checked = signatures.verify(address=claimed, digest=digest, signature=signature, chain_id=settings.PORTAL_CHAIN_ID)
    if not checked.ok:
        if checked.reason == signatures.BAD_SIGNATURE and checked.verified_by in (None, signatures.EOA):
            try:
                signer = recover_signer(typed, signature)
            except ValueError as exc:
                raise BadSignature(str(exc)) from None
            raise BadSignature(f"The signature was made by {signer}, not by the validator it names ({claimed}).")
        checked.raise_for_failure(BadSignature)
    return claimed, verdict, reason, "0x" + digest.hex(), checked, scores, evidence


def verdict_submit(*, round_id: int, message: dict[str, Any], signature: str, automated: bool = False) -> VerdictResult:
    """Record a signed verdict. The message is the EIP-712 `Verdict` struct as signed. The same
    signed verdict twice is a no-op; a different one from the same validator is equivocation,
    recorded with both signatures as evidence (slashed and jailed when the round closes)."""
    [result] = verdicts_submit(
        items=[{"round_id": round_id, "message": message, "signature": signature}], automated=automated
    )
    if isinstance(result, DomainError):
        raise result
    return result


def verdicts_submit(*, items: list[dict[str, Any]], automated: bool = False) -> list[VerdictResult | DomainError]:
    """Record many signed verdicts (each `{"round_id", "message", "signature"}`) in one transaction,
    with the same checks and outcomes as verdict_submit, item by item: the result list holds, in
    the items' order, a VerdictResult or the DomainError that refused that item (a refused item
    writes nothing; the others are recorded). Signatures are verified before any row is locked;
    the rounds are then locked in id order, and a round that became decisive is closed by one
    task enqueued after commit."""
    results: list[VerdictResult | DomainError | None] = [None] * len(items)
    round_ids: list[int | None] = []
    for item in items:
        try:
            round_ids.append(int(item.get("round_id")) if isinstance(item, dict) else None)  # type: ignore[arg-type]  # a missing id raises TypeError, caught
        except (TypeError, ValueError):
            round_ids.append(None)
    wanted = sorted({rid for rid in round_ids if rid is not None})
    found = Round.objects.only("pk", "content_hash").in_bulk(wanted) if wanted else {}
    checked: list[_Checked] = []
    for i, (item, round_id) in enumerate(zip(items, round_ids, strict=True)):
        try:
            if round_id is None:
                raise InvalidVerdict("Each verdict names the round it is for.")
            signer, verdict, reason, digest, verification, scores, evidence = _check_signed(
                found.get(round_id), round_id, item.get("message"), item.get("signature")
            )
            checked.append(
                _Checked(
                    i,
                    round_id,
                    signer,
                    verdict,
                    reason,
                    str(item.get("signature")),
                    digest,
                    verification,
                    scores,
                    evidence,
                )
            )
        except DomainError as exc:
            results[i] = exc
    if not checked:
        return results  # type: ignore[return-value]
    with transaction.atomic():
        locked = {r.pk: r for r in _locked_many(sorted({c.round_id for c in checked}))}
        # Every seat and verdict of the locked rounds: enough to check each item and, once the new
        # verdicts are in, to tell which rounds became decisive (nobody else writes verdicts for
        # these rounds while they are locked).
        seats: dict[tuple[int, str], int] = {}
        stakes: dict[int, list[tuple[int, int, str]]] = {rid: [] for rid in locked}
        for rid, seat_vid, seat_stake, address in Seat.objects.filter(round_id__in=list(locked)).values_list(
            "round_id", "validator_id", "stake", "address"
        ):
            seats[(rid, address)] = seat_vid
            stakes[rid].append((seat_vid, int(seat_stake), address))
        stored: dict[int, list[Verdict]] = {rid: [] for rid in locked}
        earlier: dict[tuple[int, int], list[Verdict]] = {}
        for v in Verdict.objects.filter(round_id__in=list(locked)).order_by("pk"):
            stored[v.round_id].append(v)
            earlier.setdefault((v.round_id, v.validator_id), []).append(v)
        new: list[tuple[int, Verdict, list[Verdict]]] = []
        for c in checked:
            r = locked[c.round_id]
            vid = seats.get((r.pk, c.signer))
            if vid is None:
                results[c.index] = NotInCommittee(f"{c.signer} is not on the committee of round {r.pk}.")
            elif r.state != RoundState.OPEN:
                results[c.index] = RoundClosed(
                    f"Round {r.pk} is closed ({r.outcome}); verdicts are no longer accepted."
                )
            elif r.overdue:  # type: ignore[attr-defined]  # annotated by _locked_many; django-stubs loses it
                results[c.index] = RoundClosed(
                    f"Round {r.pk}'s deadline passed at {r.deadline:%Y-%m-%d %H:%M:%S} UTC; verdicts are no longer accepted."
                )
            else:
                prior = earlier.setdefault((r.pk, vid), [])
                same = next((v for v in prior if v.digest == c.digest), None)
                if same is not None:
                    results[c.index] = VerdictResult(verdict=same, duplicate=True)
                    continue
                recorded = Verdict(
                    round=r,
                    validator_id=vid,
                    verdict=c.verdict,
                    reason=c.reason,
                    scores=c.scores,
                    evidence=c.evidence,
                    signature=c.signature,
                    digest=c.digest,
                    automated=automated,
                    verified_by=c.verification.verified_by,  # type: ignore[misc]  # set on every accepted verification
                    verified_chain_id=c.verification.chain_id,
                    verified_block=c.verification.block_number,
                )
                new.append((c.index, recorded, list(prior)))
                prior.append(recorded)
        if new:
            bulk_insert(Verdict, [v for _, v, _ in new])  # one JSON document: no per-value escaping
        touched: dict[int, Round] = {}
        for index, recorded, prior in new:
            equivocation = None
            if prior:
                equivocation, _ = Equivocation.objects.get_or_create(
                    round=recorded.round,
                    validator_id=recorded.validator_id,
                    defaults={"first": prior[0], "second": recorded},
                )
            results[index] = VerdictResult(verdict=recorded, equivocation=equivocation)
            touched[recorded.round_id] = locked[recorded.round_id]
            stored[recorded.round_id].append(recorded)  # bulk_insert gave them ascending ids, in this order
        if touched:
            rounds = [touched[k] for k in sorted(touched)]
            hooks.run_verdicts(rounds)
            decided = []
            for r in rounds:
                b = _Ballots({}, {}, {}, set(), [])
                for vid, stake, address in stakes[r.pk]:
                    b.seats[vid], b.addresses[vid] = stake, address
                _count(b, [(v.validator_id, v.verdict, v.signature) for v in stored[r.pk]])
                if _decided(b, r.rule("threshold_bps")) is not None:
                    decided.append(r.pk)
            _enqueue_close(decided)
    return results  # type: ignore[return-value]
