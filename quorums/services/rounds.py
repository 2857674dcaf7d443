"""Validation rounds: open (draw the committee), record signed verdicts, close (consensus,
slashes, anchor, hooks). Each function is one transaction; closing is idempotent because it
locks the round row and proceeds only from state `open` (a duplicate delivery is a no-op)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Now
from eth_utils import keccak

from ledger import services as ledger
from portal.errors import DomainError
from portal.models import checksum
from portal.sql import update_by_pk

from .. import hooks
from ..consensus import decisive, draw_committee, outcome_at_deadline, tally, verdicts_digest
from ..eip712 import VERDICTS, as_bytes32_hex, recover_with_digest, verdict_typed_data
from ..errors import BadSignature, InvalidVerdict, NotInCommittee, RoundClosed, RoundNotFound, WrongRound
from ..models import Equivocation, Quorum, Round, RoundState, Seat, SlashReason, Validator, ValidatorState, Verdict
from ..selectors import quorum_candidates
from .slashing import apply_slash

log = logging.getLogger(__name__)


def _locked_many(round_ids: list[int]) -> list[Round]:
    """The rounds' rows, locked in id order (so two batches never deadlock), with their quorum and
    iDAO and whether each deadline has passed by database time, in one query."""
    return list(
        Round.objects.select_for_update(of=("self",))
        .select_related("quorum", "idao")
        .annotate(overdue=ExpressionWrapper(Q(deadline__lte=Now()), output_field=BooleanField()), db_now=Now())
        .filter(pk__in=round_ids)
        .order_by("pk")
    )


def _enqueue_close(round_ids: list[int]) -> None:
    from ..tasks import round_close_task, rounds_close_task

    ids = sorted(set(round_ids))
    if len(ids) == 1:
        transaction.on_commit(lambda: round_close_task.delay(ids[0]))
    elif ids:
        transaction.on_commit(lambda: rounds_close_task.delay(ids))


def round_open(
    *, idao_id: int, subject_kind: str, subject_ref: str, content_hash: str, attempt: int = 1
) -> Round | None:
    """rounds_open for one subject: its new round, or None when no trusted quorum can take it now."""
    subject = {
        "idao_id": idao_id,
        "subject_kind": subject_kind,
        "subject_ref": subject_ref,
        "content_hash": content_hash,
        "attempt": attempt,
    }
    return rounds_open(subjects=[subject])[0]


def rounds_open(*, subjects: list[dict[str, Any]]) -> list[Round | None]:
    """Route subjects (each `{"idao_id", "subject_kind", "subject_ref", "content_hash", "attempt"}`)
    to the VSC's pick and open their rounds, in one transaction: for each in turn the least busy
    eligible quorum the iDAO trusts (counting the rounds this batch opened), a stake-weighted
    committee drawn from a recorded seed, database-time deadlines. Returns, in order, each
    subject's new round, or None when no quorum can take it now (the caller waits)."""
    out: list[Round | None] = [None] * len(subjects)
    if not subjects:
        return out
    for subject in subjects:
        hooks.subject_kind(subject["subject_kind"])
    with transaction.atomic():
        candidates = {idao_id: list(quorum_candidates(idao_id=idao_id)) for idao_id in {s["idao_id"] for s in subjects}}
        ids = sorted({q.pk for qs in candidates.values() for q in qs})
        if not ids:
            return out
        locked = {
            q.pk: q for q in Quorum.objects.select_for_update().annotate(db_now=Now()).filter(pk__in=ids).order_by("pk")
        }
        pending = {q.pk: q.pending for qs in candidates.values() for q in qs}
        pool: dict[int, list[tuple[int, int, str]]] = {}
        for quorum_id, vid, stake, address in (
            Validator.objects.filter(quorum_id__in=ids, state=ValidatorState.ACTIVE)
            .order_by("pk")
            .values_list("quorum_id", "pk", "stake", "address")
        ):
            if stake >= locked[quorum_id].min_bond:
                pool.setdefault(quorum_id, []).append((vid, int(stake), address))
        rounds: list[Round] = []
        committees: list[list[tuple[int, int, str]]] = []
        for index, subject in enumerate(subjects):
            eligible = [
                q
                for q in candidates[subject["idao_id"]]
                if q.pk in locked and not locked[q.pk].paused and len(pool.get(q.pk, ())) >= locked[q.pk].committee_size
            ]
            if not eligible:
                continue
            quorum = locked[min(eligible, key=lambda q: (pending[q.pk], q.pk)).pk]
            pending[quorum.pk] += 1
            rows = pool[quorum.pk]
            kind, ref, attempt = subject["subject_kind"], subject["subject_ref"], subject.get("attempt", 1)
            content_hash = as_bytes32_hex(subject["content_hash"])
            seed = "0x" + keccak(f"{kind}:{ref}:{attempt}:{content_hash}:".encode() + secrets.token_bytes(32)).hex()
            candidates_json = [[vid, stake] for vid, stake, _ in rows]
            chosen = draw_committee(
                bytes.fromhex(seed[2:]), [(vid, stake) for vid, stake, _ in rows], quorum.committee_size
            )
            by_id = {row[0]: row for row in rows}
            r = Round(
                quorum=quorum,
                idao_id=subject["idao_id"],
                subject_kind=kind,
                subject_ref=ref,
                content_hash=content_hash,
                attempt=attempt,
                seed=seed,
                candidates=candidates_json,
                opened_at=quorum.db_now,
                deadline=quorum.db_now + quorum.round_duration,
            )
            out[index] = r
            rounds.append(r)
            committees.append([by_id[vid] for vid in chosen])
        Round.objects.bulk_create(rounds)
        Seat.objects.bulk_create(
            [
                Seat(round=r, validator_id=vid, address=address, stake=stake)
                for r, committee in zip(rounds, committees, strict=True)
                for vid, stake, address in committee
            ]
        )
        return out


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


def _check_signed(r: Round | None, round_id: int, message: dict[str, Any], signature: str) -> tuple[str, str, str, str]:
    """(signer, verdict, reason, digest) of a well-formed verdict signed for this round's content
    by the validator it names; the refusals verdict_submit documents otherwise. No writes."""
    if not isinstance(message, dict):
        raise InvalidVerdict("The signed verdict is malformed: the message is not an object.")
    verdict, reason = message.get("verdict"), str(message.get("reason") or "")
    if verdict not in VERDICTS:
        raise InvalidVerdict(f"A verdict is one of {', '.join(VERDICTS)}.")
    if len(reason) > 500:
        raise InvalidVerdict("A verdict's reason is at most 500 characters.")
    if verdict == "reject" and not reason.strip():
        raise InvalidVerdict("A rejection needs a reason.")
    if r is None:
        raise RoundNotFound(f"There is no validation round {round_id}.")
    try:
        signed_round = int(message.get("round"))
        signed_hash = as_bytes32_hex(str(message.get("contentHash")))
        claimed = checksum(str(message.get("validator")))
    except (TypeError, ValueError) as exc:
        raise InvalidVerdict(f"The signed verdict is malformed: {exc}") from None
    if signed_round != r.pk or signed_hash != r.content_hash:
        raise WrongRound(
            f"This verdict was signed for round {signed_round} and content {signed_hash[:10]}…, "
            f"not round {r.pk} with content {r.content_hash[:10]}…."
        )
    typed = verdict_typed_data(
        validator=claimed, round_id=r.pk, content_hash=r.content_hash, verdict=verdict, reason=reason
    )
    try:
        signer, digest = recover_with_digest(typed, signature)
    except ValueError as exc:
        raise BadSignature(str(exc)) from None
    if signer != claimed:
        raise BadSignature(f"The signature was made by {signer}, not by the validator it names ({claimed}).")
    return signer, verdict, reason, digest


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
            round_ids.append(int(item.get("round_id")) if isinstance(item, dict) else None)
        except (TypeError, ValueError):
            round_ids.append(None)
    wanted = sorted({rid for rid in round_ids if rid is not None})
    found = Round.objects.in_bulk(wanted) if wanted else {}
    checked: list[_Checked] = []
    for i, (item, round_id) in enumerate(zip(items, round_ids, strict=True)):
        try:
            if round_id is None:
                raise InvalidVerdict("Each verdict names the round it is for.")
            signer, verdict, reason, digest = _check_signed(
                found.get(round_id), round_id, item.get("message"), item.get("signature")
            )
            checked.append(_Checked(i, round_id, signer, verdict, reason, str(item.get("signature")), digest))
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
        for rid, vid, stake, address in Seat.objects.filter(round_id__in=list(locked)).values_list(
            "round_id", "validator_id", "stake", "address"
        ):
            seats[(rid, address)] = vid
            stakes[rid].append((vid, int(stake), address))
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
            elif r.overdue:
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
                    signature=c.signature,
                    digest=c.digest,
                    automated=automated,
                )
                new.append((c.index, recorded, list(prior)))
                prior.append(recorded)
        if new:
            Verdict.objects.bulk_create([v for _, v, _ in new])
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
            stored[recorded.round_id].append(recorded)  # bulk_create gave them ascending ids, in this order
        if touched:
            rounds = [touched[k] for k in sorted(touched)]
            hooks.run_verdicts(rounds)
            decided = []
            for r in rounds:
                b = _Ballots({}, {}, {}, set(), [])
                for vid, stake, address in stakes[r.pk]:
                    b.seats[vid], b.addresses[vid] = stake, address
                _count(b, [(v.validator_id, v.verdict, v.signature) for v in stored[r.pk]])
                if _decided(b, r.quorum.threshold_bps) is not None:
                    decided.append(r.pk)
            _enqueue_close(decided)
    return results  # type: ignore[return-value]


@dataclass
class _Ballots:
    seats: dict[int, int]
    addresses: dict[int, str]
    votes: dict[int, str]
    equivocators: set[int]
    signatures: list[str]


def _ballots(r: Round) -> _Ballots:
    return _ballots_many([r.pk])[r.pk]


def _ballots_many(round_ids: list[int]) -> dict[int, _Ballots]:
    """Per round: seats' stakes, each validator's first verdict, and the equivocators: a validator
    with more than one stored verdict (rows are unique per digest, so two rows are two different
    signed verdicts). Two queries, whatever the number of rounds."""
    out = {rid: _Ballots({}, {}, {}, set(), []) for rid in round_ids}
    seats = Seat.objects.filter(round_id__in=round_ids).values_list("round_id", "validator_id", "stake", "address")
    for round_id, validator_id, stake, address in seats:
        b = out[round_id]
        b.seats[validator_id], b.addresses[validator_id] = int(stake), address
    rows = (
        Verdict.objects.filter(round_id__in=round_ids)
        .order_by("pk")
        .values_list("round_id", "validator_id", "verdict", "signature")
    )
    by_round: dict[int, list[tuple[int, str, str]]] = {rid: [] for rid in round_ids}
    for round_id, validator_id, verdict, signature in rows:
        by_round[round_id].append((validator_id, verdict, signature))
    for round_id, verdicts in by_round.items():
        _count(out[round_id], verdicts)
    return out


def _count(b: _Ballots, verdicts: list[tuple[int, str, str]]) -> None:
    """Each validator's first verdict counts; a second one (a different signed verdict: rows are
    unique per digest) makes them an equivocator. `verdicts` in id order."""
    for validator_id, verdict, signature in verdicts:
        if validator_id in b.votes:
            b.equivocators.add(validator_id)
        b.votes.setdefault(validator_id, verdict)
        b.signatures.append(signature)


def _decided(b: _Ballots, threshold_bps: int) -> str | None:
    return decisive(tally(b.seats, b.votes, b.equivocators), threshold_bps)


def _current_outcome(r: Round) -> str | None:
    return _decided(_ballots(r), r.quorum.threshold_bps)


def round_close(*, round_id: int, force: bool = False) -> Round:
    """rounds_close for one round; RoundNotFound when there is none."""
    rounds = rounds_close(round_ids=[round_id], force=force)
    if not rounds:
        raise RoundNotFound(f"There is no validation round {round_id}.")
    return rounds[0]


def rounds_close(*, round_ids: list[int], force: bool = False) -> list[Round]:
    """Close each round if a side holds the threshold, or if its deadline has passed by database
    time (or `force`, by staff). Slash equivocators (and jail them), the minority of a decisive
    outcome, and, when the deadline ran out, the absent; anchor the outcome; run the hooks once
    for the batch. Calling it again after the close, or before anything is decided, changes
    nothing. One transaction, the rounds locked in id order. If the batch fails,
    nothing of it is kept and each round is retried in its own transaction, so one broken round
    does not hold the others back; the first failure is then raised (the task retries it)."""
    ids = sorted({int(i) for i in round_ids})
    if not ids:
        return []
    try:
        with transaction.atomic():
            return _close_locked(ids, force=force)
    except Exception:
        if len(ids) == 1:
            raise
        log.warning("closing rounds %s together failed; closing them one by one", ids, exc_info=True)
    closed: list[Round] = []
    failure: Exception | None = None
    for rid in ids:
        try:
            with transaction.atomic():
                closed += _close_locked([rid], force=force)
        except Exception as exc:  # raised below, once the others are closed
            failure = failure or exc
    if failure is not None:
        raise failure
    return closed


def _close_locked(round_ids: list[int], *, force: bool) -> list[Round]:
    """Inside a transaction: lock the rounds and close those that are decided (or overdue, or
    forced). Returns every round found, closed or not."""
    rounds = _locked_many(round_ids)
    ballots = _ballots_many([r.pk for r in rounds if r.state == RoundState.OPEN])
    plans = []
    for r in rounds:
        if r.state != RoundState.OPEN:
            continue
        quorum = r.quorum
        b = ballots[r.pk]
        seats, votes, equivocators = b.seats, b.votes, b.equivocators
        t = tally(seats, votes, equivocators)
        outcome = decisive(t, quorum.threshold_bps)
        overdue = r.overdue
        if overdue or force:
            outcome = outcome_at_deadline(t, quorum.threshold_bps, quorum.min_participation_bps)
            close_reason = "forced" if force and not overdue else "deadline"
        elif outcome is not None:
            close_reason = "threshold"
        else:
            continue
        penalties: list[tuple[int, str, int]] = [
            (vid, SlashReason.EQUIVOCATION, quorum.slash_equivocation_bps) for vid in sorted(equivocators & set(seats))
        ]
        if outcome in ("accepted", "rejected"):
            winning = "approve" if outcome == "accepted" else "reject"
            penalties += [
                (vid, SlashReason.MINORITY, quorum.slash_minority_bps)
                for vid in sorted(
                    v for v, verdict in votes.items() if verdict != winning and v not in equivocators and v in seats
                )
            ]
        if overdue:  # only a member who let the whole round run out was absent
            penalties += [
                (vid, SlashReason.ABSENCE, quorum.slash_absence_bps)
                for vid in sorted(set(seats) - set(votes) - equivocators)
            ]
        plans.append((r, b, t, outcome, close_reason, penalties))
    if not plans:
        return rounds
    penalised = {vid for *_, penalties in plans for vid, _, _ in penalties}
    validators = Validator.objects.in_bulk(sorted(penalised)) if penalised else {}
    jailed: set[int] = set()
    closed: dict[int, dict[str, Any]] = {}
    closed_rounds: list[Round] = []
    for r, b, t, outcome, close_reason, penalties in plans:
        quorum = r.quorum
        slashes = [
            apply_slash(
                validator=validators[vid],
                round_=r,
                reason=reason,
                rate_bps=rate,
                key=f"slash:{r.pk}:{vid}:{reason}",
                idao=r.idao,
            )
            for vid, reason, rate in penalties
        ]
        jailed |= b.equivocators & set(b.seats)
        tally_json = {
            "committee": t.committee_stake,
            "approve": t.approve_stake,
            "reject": t.reject_stake,
            "voted": t.voted_stake,
        }
        digest = verdicts_digest(b.signatures)
        leaf = ledger.anchor(
            kind="validation_round",
            subject=f"round:{r.pk}",
            payload={
                "round": r.pk,
                "quorum": quorum.pk,
                "idao": r.idao.slug,
                "subject": f"{r.subject_kind}:{r.subject_ref}",
                "content_hash": r.content_hash,
                "seed": r.seed,
                "outcome": outcome,
                "close_reason": close_reason,
                "committee": [[b.addresses[v], b.seats[v]] for v in sorted(b.seats)],
                "tally": tally_json,
                "verdicts_digest": digest,
                "slashes": [[s.validator.address, s.reason, int(s.amount)] for s in slashes if s is not None],
            },
        )
        closed[r.pk] = {
            "outcome": outcome,
            "close_reason": close_reason,
            "closed_at": r.db_now,
            "tally": tally_json,
            "verdicts_digest": digest,
            "anchor_leaf_id": leaf.pk,
        }
        closed_rounds.append(r)
    # The rows are locked and were open, so this conditional claim updates exactly these rows.
    if update_by_pk(Round, closed, where={"state": RoundState.OPEN}, state=RoundState.CLOSED) != len(closed):
        raise RuntimeError(f"rounds {sorted(closed)} changed state under their locks")
    for r in closed_rounds:
        r.state = RoundState.CLOSED
        for field, value in closed[r.pk].items():
            setattr(r, field, value)
    if jailed:
        Validator.objects.filter(pk__in=jailed, state=ValidatorState.ACTIVE).update(state=ValidatorState.JAILED)
    hooks.run_closed(closed_rounds)
    return rounds
