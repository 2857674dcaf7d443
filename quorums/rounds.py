"""Validation rounds: open (draw the committee), record signed verdicts, close (consensus,
slashes, anchor, hooks). Each function is one transaction; closing is idempotent because it
locks the round row and proceeds only from state `open` (a duplicate delivery is a no-op)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Now
from eth_utils import keccak

from ledger import services as ledger
from portal.models import checksum

from . import hooks
from .consensus import decisive, draw_committee, outcome_at_deadline, tally, verdicts_digest
from .eip712 import VERDICTS, as_bytes32_hex, recover_signer, verdict_digest, verdict_typed_data
from .errors import BadSignature, InvalidVerdict, NotInCommittee, QuorumPaused, RoundClosed, RoundNotFound, WrongRound
from .models import Equivocation, Quorum, Round, RoundState, Seat, SlashReason, Validator, ValidatorState, Verdict
from .selectors import quorum_pick
from .slashing import apply_slash


def _locked(round_id: int) -> Round | None:
    """The round row, locked, with its quorum and iDAO and whether its deadline has passed by
    database time, in one query."""
    return (
        Round.objects.select_for_update(of=("self",)).select_related("quorum", "idao")
        .annotate(overdue=ExpressionWrapper(Q(deadline__lte=Now()), output_field=BooleanField()), db_now=Now())
        .filter(pk=round_id).first()
    )


def _enqueue_close(round_id: int) -> None:
    from .tasks import round_close_task

    transaction.on_commit(lambda: round_close_task.delay(round_id))


def round_open(*, idao_id: int, subject_kind: str, subject_ref: str, content_hash: str, attempt: int = 1) -> Round | None:
    """Route a subject to the VSC's pick and open a round with a stake-weighted committee drawn
    from a recorded seed. None when no trusted quorum can take it now (the caller waits)."""
    hooks.subject_kind(subject_kind)  # fail loudly for an unregistered kind
    content_hash = as_bytes32_hex(content_hash)
    with transaction.atomic():
        picked = quorum_pick(idao_id=idao_id)
        if picked is None:
            return None
        quorum = Quorum.objects.select_for_update().annotate(db_now=Now()).get(pk=picked.pk)
        if quorum.paused:
            raise QuorumPaused(f"Quorum {quorum.name} is paused.")
        rows = list(
            Validator.objects.filter(quorum=quorum, state=ValidatorState.ACTIVE, stake__gte=quorum.min_bond)
            .order_by("pk").values_list("pk", "stake", "address")
        )
        candidates = [[vid, int(stake)] for vid, stake, _ in rows]
        addresses = {vid: address for vid, _, address in rows}
        seed = "0x" + keccak(
            f"{subject_kind}:{subject_ref}:{attempt}:{content_hash}:".encode() + secrets.token_bytes(32)
        ).hex()
        chosen = draw_committee(bytes.fromhex(seed[2:]), [tuple(c) for c in candidates], quorum.committee_size)
        r = Round.objects.create(
            quorum=quorum, idao_id=idao_id, subject_kind=subject_kind, subject_ref=subject_ref,
            content_hash=content_hash, attempt=attempt, seed=seed, candidates=candidates,
            # Database time, read under the quorum lock: deadlines are judged against now() in SQL.
            opened_at=quorum.db_now, deadline=quorum.db_now + quorum.round_duration,
        )
        stakes = dict((c[0], c[1]) for c in candidates)
        Seat.objects.bulk_create([Seat(round=r, validator_id=v, address=addresses[v], stake=stakes[v]) for v in chosen])
        return r


@dataclass(frozen=True)
class VerdictResult:
    verdict: Verdict
    equivocation: Equivocation | None = None
    duplicate: bool = False


def verdict_submit(*, round_id: int, message: dict[str, Any], signature: str, automated: bool = False) -> VerdictResult:
    """Record a signed verdict. The message is the EIP-712 `Verdict` struct as signed. The same
    signed verdict twice is a no-op; a different one from the same validator is equivocation,
    recorded with both signatures as evidence (slashed and jailed when the round closes)."""
    verdict, reason = message.get("verdict"), str(message.get("reason") or "")
    if verdict not in VERDICTS:
        raise InvalidVerdict(f"A verdict is one of {', '.join(VERDICTS)}.")
    if len(reason) > 500:
        raise InvalidVerdict("A verdict's reason is at most 500 characters.")
    if verdict == "reject" and not reason.strip():
        raise InvalidVerdict("A rejection needs a reason.")
    r = Round.objects.filter(pk=round_id).first()
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
    typed = verdict_typed_data(validator=claimed, round_id=r.pk, content_hash=r.content_hash, verdict=verdict, reason=reason)
    try:
        signer = recover_signer(typed, signature)
    except ValueError as exc:
        raise BadSignature(str(exc)) from None
    if signer != claimed:
        raise BadSignature(f"The signature was made by {signer}, not by the validator it names ({claimed}).")
    digest = verdict_digest(typed)
    with transaction.atomic():
        r = _locked(r.pk)
        seat = Seat.objects.filter(round=r, address=signer).select_related("validator").first()
        if seat is None:
            raise NotInCommittee(f"{signer} is not on the committee of round {r.pk}.")
        if r.state != RoundState.OPEN:
            raise RoundClosed(f"Round {r.pk} is closed ({r.outcome}); verdicts are no longer accepted.")
        if r.overdue:
            raise RoundClosed(f"Round {r.pk}'s deadline passed at {r.deadline:%Y-%m-%d %H:%M:%S} UTC; verdicts are no longer accepted.")
        earlier = list(Verdict.objects.filter(round=r, validator=seat.validator).order_by("pk"))
        same = next((v for v in earlier if v.digest == digest), None)
        if same is not None:
            return VerdictResult(verdict=same, duplicate=True)
        recorded = Verdict.objects.create(
            round=r, validator=seat.validator, verdict=verdict, reason=reason, signature=signature,
            digest=digest, automated=automated,
        )
        equivocation = None
        if earlier:
            equivocation, _ = Equivocation.objects.get_or_create(
                round=r, validator=seat.validator, defaults={"first": earlier[0], "second": recorded}
            )
        hooks.run_verdict(r)
        if _current_outcome(r) is not None:
            _enqueue_close(r.pk)
        return VerdictResult(verdict=recorded, equivocation=equivocation)


@dataclass
class _Ballots:
    seats: dict[int, int]
    addresses: dict[int, str]
    votes: dict[int, str]
    equivocators: set[int]
    signatures: list[str]


def _ballots(r: Round) -> _Ballots:
    """Seats' stakes, each validator's first verdict, and the equivocators: a validator with
    more than one stored verdict (rows are unique per digest, so two rows are two different
    signed verdicts)."""
    b = _Ballots({}, {}, {}, set(), [])
    for validator_id, stake, address in Seat.objects.filter(round=r).values_list("validator_id", "stake", "address"):
        b.seats[validator_id], b.addresses[validator_id] = int(stake), address
    rows = Verdict.objects.filter(round=r).order_by("pk").values_list("validator_id", "verdict", "signature")
    for validator_id, verdict, signature in rows:
        if validator_id in b.votes:
            b.equivocators.add(validator_id)
        b.votes.setdefault(validator_id, verdict)
        b.signatures.append(signature)
    return b


def _current_outcome(r: Round) -> str | None:
    b = _ballots(r)
    return decisive(tally(b.seats, b.votes, b.equivocators), r.quorum.threshold_bps)


def round_close(*, round_id: int, force: bool = False) -> Round:
    """Close the round if a side holds the threshold, or if its deadline has passed by database
    time (or `force`, by staff). Slash equivocators (and jail them), the minority of a decisive
    outcome, and, when the deadline ran out, the absent; anchor the outcome; run the hooks.
    Calling it again after the close, or before anything is decided, changes nothing."""
    with transaction.atomic():
        r = _locked(round_id)
        if r is None:
            raise RoundNotFound(f"There is no validation round {round_id}.")
        if r.state != RoundState.OPEN:
            return r
        quorum = r.quorum
        b = _ballots(r)
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
            return r
        tally_json = {"committee": t.committee_stake, "approve": t.approve_stake, "reject": t.reject_stake, "voted": t.voted_stake}
        penalties: list[tuple[int, str, int]] = [
            (vid, SlashReason.EQUIVOCATION, quorum.slash_equivocation_bps) for vid in sorted(equivocators & set(seats))
        ]
        if outcome in ("accepted", "rejected"):
            winning = "approve" if outcome == "accepted" else "reject"
            penalties += [(vid, SlashReason.MINORITY, quorum.slash_minority_bps)
                          for vid in sorted(v for v, verdict in votes.items() if verdict != winning and v not in equivocators and v in seats)]
        if overdue:  # only a member who let the whole round run out was absent
            penalties += [(vid, SlashReason.ABSENCE, quorum.slash_absence_bps) for vid in sorted(set(seats) - set(votes) - equivocators)]
        slashes = []
        if penalties:
            validators = {v.pk: v for v in Validator.objects.filter(pk__in=[p[0] for p in penalties])}
            for vid, reason, rate in penalties:
                slashes.append(apply_slash(validator=validators[vid], round_=r, reason=reason, rate_bps=rate,
                                           key=f"slash:{r.pk}:{vid}:{reason}", idao=r.idao))
            Validator.objects.filter(pk__in=equivocators & set(seats), state=ValidatorState.ACTIVE).update(state=ValidatorState.JAILED)
        digest = verdicts_digest(b.signatures)
        leaf = ledger.anchor(
            kind="validation_round",
            subject=f"round:{r.pk}",
            payload={
                "round": r.pk, "quorum": quorum.pk, "idao": r.idao.slug, "subject": f"{r.subject_kind}:{r.subject_ref}",
                "content_hash": r.content_hash, "seed": r.seed, "outcome": outcome, "close_reason": close_reason,
                "committee": [[b.addresses[v], seats[v]] for v in sorted(seats)],
                "tally": tally_json, "verdicts_digest": digest,
                "slashes": [[s.validator.address, s.reason, int(s.amount)] for s in slashes if s is not None],
            },
        )
        closed = {"state": RoundState.CLOSED, "outcome": outcome, "close_reason": close_reason, "closed_at": r.db_now,
                  "tally": tally_json, "verdicts_digest": digest, "anchor_leaf_id": leaf.pk}
        # The row is locked and was open, so this conditional claim updates exactly one row.
        if Round.objects.filter(pk=r.pk, state=RoundState.OPEN).update(**closed) != 1:
            raise RuntimeError(f"round {r.pk} changed state under its lock")
        for field, value in closed.items():
            setattr(r, field, value)
        hooks.run_closed(r)
        return r
