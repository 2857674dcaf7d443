"""Validation rounds: open (the VSC's pick, the committee draw), close (consensus, slashes,
anchor, hooks); signed verdicts are recorded by quorums.services.verdicts. Each function is one transaction; closing is idempotent because it
locks the round row and proceeds only from state `open` (a duplicate delivery is a no-op)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Now

from ledger import services as ledger
from ledger.selectors import sealed_head
from portal.events import emit_many
from portal.sql import bulk_insert, reserve_ids, update_by_pk

from .. import hooks
from ..beacon import seed_chain_id
from ..consensus import ZERO_HASH, decisive, draw_committee, outcome_at_deadline, round_seed, tally, verdicts_digest
from ..eip712 import as_bytes32_hex
from ..errors import RoundNotFound
from ..models import QUORUM_RULES, Quorum, Round, RoundState, Seat, SlashReason, Validator, ValidatorState, Verdict
from ..scores import below_minimums, round_scores
from ..selectors import quorum_candidates
from .slashing import apply_slash

log = logging.getLogger(__name__)


OPEN_LEAF_KIND = "validation_round_open"


def open_record(r: Round, *, committee: list[tuple[int, int, str]]) -> dict[str, Any]:
    """The anchored open record: every public input of the seed, the seed, the candidates the
    draw saw and the committee it drew (manage.py verify_round re-derives it). A round waiting
    for its public-chain block (state drawing) has no seed nor committee yet."""
    record: dict[str, Any] = {
        "round": r.pk,
        "quorum": r.quorum_id,
        "idao": r.idao_id,
        "subject": f"{r.subject_kind}:{r.subject_ref}",
        "content_hash": r.content_hash,
        "attempt": r.attempt,
        "seed_block": {"height": r.seed_block_height, "hash": r.seed_block_hash},
        "seed": r.seed,
        "committee_size": r.quorum.committee_size,
        "threshold_bps": r.quorum.threshold_bps,
        "min_participation_bps": r.quorum.min_participation_bps,
        "candidates": r.candidates,
        "committee": [[vid, address, stake] for vid, stake, address in committee],
        **{k: v for k, v in r.params.items() if k in ("score_weights", "score_minimums")},
    }
    if r.state == RoundState.DRAWING:
        # The seed waits for a public-chain block after this record: the first of chain
        # `chain_id` with a timestamp after `after` (Unix seconds); the draw record carries it.
        record.update(seed=None, committee=None, beacon={"chain_id": r.beacon_chain_id, "after": opened_second(r)})
    return record


def opened_second(r: Round) -> int:
    """The Unix second the round opened: its seed block is the chain's first one after it."""
    return int(r.opened_at.timestamp())


def draw_record(r: Round, *, committee: list[tuple[int, int, str]]) -> dict[str, Any]:
    """The anchored draw record of a round whose seed took a public-chain block."""
    return {
        "round": r.pk,
        "beacon": {
            "chain_id": r.beacon_chain_id,
            "number": r.beacon_block_number,
            "hash": r.beacon_block_hash,
            "timestamp": r.beacon_block_timestamp,
        },
        "seed": r.seed,
        "committee": [[vid, address, stake] for vid, stake, address in committee],
    }


def scoring_rules(quorum: Quorum) -> dict[str, Any]:
    """The composite's weights and the minimums, snapshotted on a round like QUORUM_RULES."""
    return {"score_weights": dict(quorum.score_weights), "score_minimums": dict(quorum.score_minimums)}


def _scored(rounds: list[Round], ballots: dict[int, _Ballots]) -> dict[int, dict[str, int]]:
    """Each round's score (quorums.scores.round_scores) from the first scored verdict of each
    seated, non-equivocating validator. One query."""
    vectors: dict[int, dict[int, dict[str, int]]] = {r.pk: {} for r in rounds}
    for round_id, vid, scores in (
        Verdict.objects.filter(round_id__in=list(vectors), scores__isnull=False)
        .order_by("pk")
        .values_list("round_id", "validator_id", "scores")
    ):
        if vid not in ballots[round_id].equivocators and scores is not None:
            vectors[round_id].setdefault(vid, scores)
    out = {}
    for r in rounds:
        rules = r.params if "score_weights" in r.params else scoring_rules(r.quorum)
        out[r.pk] = round_scores(vectors[r.pk], ballots[r.pk].seats, rules["score_weights"])
    return out


def _seat(rounds: Sequence[Round], committees: list[list[tuple[int, int, str]]]) -> None:
    """Seat each drawn committee on its round and tell each seated validator (validator.drawn)."""
    bulk_insert(
        Seat,
        [
            Seat(round=r, validator_id=vid, address=address, stake=stake)
            for r, committee in zip(rounds, committees, strict=True)
            for vid, stake, address in committee
        ],
    )
    emit_many(
        [
            dict(
                kind="validator.drawn",
                idao=r.idao_id,
                subject=f"round:{r.pk}",
                recipients=[uid],
                payload={"title": _title(r), "deadline": r.deadline.isoformat(), "url": "/validator/inbox"},
            )
            for r, uids in zip(rounds, seat_users(committees), strict=True)
            for uid in uids
        ]
    )


def _title(r: Round) -> str:
    return f"appeal round {r.pk} (level {r.appeal_level})" if r.appeal_level else f"round {r.pk}"


def _locked_many(round_ids: list[int]) -> list[Round]:
    """The rounds' rows, locked in id order (so two batches never deadlock), with their quorum and
    iDAO and whether each deadline has passed by database time, in one query."""
    return list(
        Round.objects.select_for_update(of=("self",))
        .select_related("quorum", "idao")
        .defer("candidates")  # the draw's input, read only at opening (it grows with the quorum)
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
        pending = {q.pk: q.pending for qs in candidates.values() for q in qs}  # type: ignore[attr-defined]  # annotated on the queryset; django-stubs loses it
        pool: dict[int, list[tuple[int, int, str]]] = {}
        for quorum_id, vid, stake, address in (
            Validator.objects.filter(quorum_id__in=ids, state=ValidatorState.ACTIVE)
            .order_by("pk")
            .values_list("quorum_id", "pk", "stake", "address")
        ):
            if stake >= locked[quorum_id].min_bond:
                pool.setdefault(quorum_id, []).append((vid, int(stake), address))
        planned: list[tuple[int, dict[str, Any], Quorum]] = []
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
            planned.append((index, subject, quorum))
        if not planned:
            return out
        # The seed takes the round's id, so the ids are taken first (one query), and the latest
        # sealed block (public, fixed before this transaction).
        round_ids = reserve_ids(Round, len(planned))
        head = sealed_head()
        block_height, block_hash = head if head else (0, ZERO_HASH)
        chain_id = seed_chain_id()
        rounds: list[Round] = []
        committees: list[list[tuple[int, int, str]]] = []
        for (index, subject, chosen_quorum), round_id in zip(planned, round_ids, strict=True):
            quorum = chosen_quorum  # type: ignore[assignment]  # the same locked rows, annotated with db_now
            rows = pool[quorum.pk]
            kind, ref, attempt = subject["subject_kind"], subject["subject_ref"], subject.get("attempt", 1)
            content_hash = as_bytes32_hex(subject["content_hash"])
            seed = round_seed(
                block_hash=block_hash,
                quorum_id=quorum.pk,
                round_id=round_id,
                content_hash=content_hash,
                attempt=attempt,
            )
            candidates_json = [[vid, address, stake] for vid, stake, address in rows]
            committee = [] if chain_id else _draw(seed, candidates_json, quorum.committee_size)
            r = Round(
                pk=round_id,
                quorum=quorum,
                idao_id=subject["idao_id"],
                subject_kind=kind,
                subject_ref=ref,
                content_hash=content_hash,
                attempt=attempt,
                seed="" if chain_id else seed,
                state=RoundState.DRAWING if chain_id else RoundState.OPEN,
                beacon_chain_id=chain_id or None,
                draw_note=f"Waiting for the first block of chain {chain_id} after the opening." if chain_id else "",
                candidates=candidates_json,
                seed_block_height=block_height,
                seed_block_hash=block_hash,
                opened_at=quorum.db_now,
                deadline=quorum.db_now + quorum.round_duration,
                params={name: getattr(quorum, name) for name in QUORUM_RULES} | scoring_rules(quorum),
            )
            out[index] = r
            rounds.append(r)
            committees.append(committee)
        # Every open record in one anchoring (ids in the rounds' order).
        leaves = ledger.anchor_many(
            [
                (OPEN_LEAF_KIND, f"round-open:{r.pk}", open_record(r, committee=committee))
                for r, committee in zip(rounds, committees, strict=True)
            ]
        )
        for r, leaf in zip(rounds, leaves, strict=True):
            r.open_anchor_leaf_id = leaf.pk
        bulk_insert(Round, rounds)
        _seat(rounds, committees)
        if chain_id:
            _enqueue_draw([r.pk for r in rounds])
        return out


def _draw(seed: str, candidates: list[list[Any]], size: int) -> list[tuple[int, int, str]]:
    """The committee (validator id, stake, address) drawn from the seed over the candidate rows."""
    chosen = draw_committee(bytes.fromhex(seed[2:]), [(vid, stake) for vid, _address, stake in candidates], size)
    by_id = {int(vid): (int(vid), int(stake), address) for vid, address, stake in candidates}
    return [by_id[vid] for vid in chosen]


def _enqueue_draw(round_ids: list[int]) -> None:
    from ..tasks import rounds_draw_task

    ids = sorted(round_ids)
    transaction.on_commit(lambda: rounds_draw_task.delay(ids))


DRAW_LEAF_KIND = "validation_round_draw"


def rounds_draw(*, round_ids: list[int]) -> dict[str, int]:
    """Draw the committees of rounds waiting for their public-chain block (state drawing): for
    each, the first block of its chain after the second it opened, once confirmed; the seed takes
    that block's hash; the committee is drawn from the candidates fixed (and anchored) at opening;
    the draw record is anchored and the round opens for verdicts, its deadline counted from now.
    A round whose block does not exist yet, or whose chain cannot be read, keeps waiting with the
    reason in `draw_note` (the task retries, then the sweep). Safe to run twice."""
    from portal.chains import ChainUnavailable

    from ..beacon import ChainBlock, reader

    waiting = [
        (pk, int(chain or 0), opened_at, note)
        for pk, chain, opened_at, note in Round.objects.filter(
            pk__in=list(round_ids), state=RoundState.DRAWING, beacon_chain_id__isnull=False
        )
        .order_by("pk")
        .values_list("pk", "beacon_chain_id", "opened_at", "draw_note")
    ]
    found: dict[int, ChainBlock] = {}
    notes: dict[int, str] = {}
    confirmations = max(0, int(getattr(settings, "QUORUM_SEED_CONFIRMATIONS", 0)))
    for chain_id in sorted({row[1] for row in waiting}):
        rows = [row for row in waiting if row[1] == chain_id]
        try:
            blocks = reader(chain_id)
            for pk, _chain, opened_at, _note in rows:
                block = blocks.first_after(int(opened_at.timestamp()), confirmations)
                if block is None:
                    notes[pk] = f"Waiting for the first block of chain {chain_id} after the opening" + (
                        f" to have {confirmations} blocks on top." if confirmations else "."
                    )
                else:
                    found[pk] = block
        except ChainUnavailable as exc:
            for pk, *_ in rows:
                notes.setdefault(pk, f"The committee cannot be drawn yet: {exc.detail}")
    for pk, _chain, _opened, note in waiting:
        if pk in notes and notes[pk] != note:
            Round.objects.filter(pk=pk, state=RoundState.DRAWING).update(draw_note=notes[pk][:300])
    if found:
        _draw_found(found)
    return {"drawn": len(found), "waiting": len(waiting) - len(found)}


def _draw_found(found: dict[int, Any]) -> None:
    with transaction.atomic():
        rounds = list(
            Round.objects.select_for_update(of=("self",))
            .select_related("quorum")
            .annotate(db_now=Now())
            .filter(pk__in=list(found), state=RoundState.DRAWING)
            .order_by("pk")
        )
        committees = []
        for r in rounds:
            block = found[r.pk]
            r.beacon_block_number, r.beacon_block_hash, r.beacon_block_timestamp = (
                block.number,
                block.hash,
                block.timestamp,
            )
            r.seed = round_seed(
                block_hash=r.seed_block_hash or ZERO_HASH,
                quorum_id=r.quorum_id,
                round_id=r.pk,
                content_hash=r.content_hash,
                attempt=r.attempt,
                beacon_hash=block.hash,
            )
            committee = _draw(r.seed, r.candidates, r.rule("committee_size"))
            r.state, r.draw_note = RoundState.OPEN, ""
            r.deadline = r.db_now + r.quorum.round_duration
            committees.append(committee)
        leaves = ledger.anchor_many(
            [
                (DRAW_LEAF_KIND, f"round-draw:{r.pk}", draw_record(r, committee=committee))
                for r, committee in zip(rounds, committees, strict=True)
            ]
        )
        for r, leaf in zip(rounds, leaves, strict=True):
            r.draw_anchor_leaf_id = leaf.pk
            r.save(
                update_fields=[
                    "beacon_block_number",
                    "beacon_block_hash",
                    "beacon_block_timestamp",
                    "seed",
                    "state",
                    "draw_note",
                    "deadline",
                    "draw_anchor_leaf_id",
                ]
            )
        _seat(rounds, committees)


def seat_users(committees: list[list[tuple[int, int, str]]]) -> list[list[int]]:
    users = dict(
        Validator.objects.filter(pk__in={c[0] for seats in committees for c in seats}).values_list("pk", "user_id")
    )
    return [[users[c[0]] for c in seats] for seats in committees]


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
    return _decided(_ballots(r), r.rule("threshold_bps"))


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
    scored = _scored([r for r in rounds if r.state == RoundState.OPEN], ballots)
    plans = []
    for r in rounds:
        if r.state != RoundState.OPEN:
            continue
        quorum = r.quorum
        b = ballots[r.pk]
        seats, votes, equivocators = b.seats, b.votes, b.equivocators
        t = tally(seats, votes, equivocators)
        outcome = decisive(t, r.rule("threshold_bps"))
        overdue = r.overdue  # type: ignore[attr-defined]  # annotated on the queryset; django-stubs loses it
        if overdue or force:
            outcome = outcome_at_deadline(t, r.rule("threshold_bps"), r.rule("min_participation_bps"))
            close_reason = "forced" if force and not overdue else "deadline"
        elif outcome is not None:
            close_reason = "threshold"
        else:
            continue
        penalties: list[tuple[int, str, int]] = [
            (vid, SlashReason.EQUIVOCATION, r.rule("slash_equivocation_bps"))
            for vid in sorted(equivocators & set(seats))
        ]
        if outcome in ("accepted", "rejected"):
            winning = "approve" if outcome == "accepted" else "reject"
            penalties += [
                (vid, SlashReason.MINORITY, r.rule("slash_minority_bps"))
                for vid in sorted(
                    v for v, verdict in votes.items() if verdict != winning and v not in equivocators and v in seats
                )
            ]
        if overdue:  # only a member who let the whole round run out was absent
            penalties += [
                (vid, SlashReason.ABSENCE, r.rule("slash_absence_bps"))
                for vid in sorted(set(seats) - set(votes) - equivocators)
            ]
        minimums = (r.params if "score_minimums" in r.params else scoring_rules(quorum))["score_minimums"]
        if outcome == "accepted" and below_minimums(scored[r.pk], minimums):
            # Approved by vote but scored below the quorum's minimums: rejected, and nobody is
            # slashed for it (the approvers' votes were not a minority).
            outcome, close_reason = "rejected", "score_minimum"
        plans.append((r, b, t, outcome, close_reason, penalties))
    if not plans:
        return rounds
    penalised = {vid for *_, penalties in plans for vid, _, _ in penalties}
    validators = Validator.objects.in_bulk(sorted(penalised)) if penalised else {}
    jailed: set[int] = set()
    closed: dict[int, dict[str, Any]] = {}
    closed_rounds: list[Round] = []
    records: list[tuple[str, str, dict[str, Any]]] = []
    slash_transfers: list[ledger.TransferIn] = []
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
                transfers=slash_transfers,
                committed=b.seats[vid],
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
        records.append(
            (
                "validation_round",
                f"round:{r.pk}",
                {
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
                    "scores": scored[r.pk],
                    "verdicts_digest": digest,
                    "slashes": [[s.validator.address, s.reason, int(s.amount)] for s in slashes if s is not None],
                },
            )
        )
        closed[r.pk] = {
            "outcome": outcome,
            "close_reason": close_reason,
            "closed_at": r.db_now,  # type: ignore[attr-defined]  # annotated on the queryset; django-stubs loses it
            "tally": tally_json,
            "scores": scored[r.pk],
            "verdicts_digest": digest,
        }
        closed_rounds.append(r)
    # Every close record in one anchoring (ids in the rounds' order).
    for r, leaf in zip(closed_rounds, ledger.anchor_many(records), strict=True):
        closed[r.pk]["anchor_leaf_id"] = leaf.pk
    ledger.transfers_post(transfers=slash_transfers)  # every slash of the close in one ledger batch
    # The rows are locked and were open, so this conditional claim updates exactly these rows.
    if update_by_pk(Round, closed, where={"state": RoundState.OPEN}, state=RoundState.CLOSED) != len(closed):
        raise RuntimeError(f"rounds {sorted(closed)} changed state under their locks")
    for r in closed_rounds:
        r.state = RoundState.CLOSED
        for field, value in closed[r.pk].items():
            setattr(r, field, value)
    if jailed:
        Validator.objects.filter(pk__in=jailed, state=ValidatorState.ACTIVE).update(state=ValidatorState.JAILED)
    hooks.run_closed(closed_rounds)  # the first hook decides the appeals these rounds were panels of
    return rounds
