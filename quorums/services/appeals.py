"""Appeals: the contributor of a rejected (or low-scored) subject contests the decision with a
bond in escrow and a written reason; a larger panel (2n+1), drawn from the public seed and
disjoint from every earlier round of the subject, re-decides it. Decided when the panel's round
closes (inside the closing transaction, quorums.services.rounds), anchored, at most two levels.

    overturned  the bond back, plus a bounty (appeal_bounty_bps of the slashes); validators of the
                decision who signed the overturned side are slashed at the minority rate only
                when their reason cites an objective, re-checkable fault (OBJECTIVE_CODES)
    upheld      the bond to the iDAO treasury, appeal_fee_bps of it to the panel's winning side
    void        the panel was inconclusive: the bond back, nothing else moves"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from idaos.models import Membership, MembershipStatus, Role
from ledger import services as ledger
from ledger.models import Kind as LedgerKind
from ledger.selectors import sealed_head
from portal.events import emit
from portal.sql import reserve_ids

from .. import hooks
from ..beacon import seed_chain_id
from ..consensus import ZERO_HASH, round_seed
from ..errors import (
    AppealExists,
    AppealFinal,
    AppealPanelUnavailable,
    AppealWindowClosed,
    NotAppealable,
    NotContributor,
    RoundNotFound,
)
from ..models import QUORUM_RULES, Appeal, Round, RoundState, Seat, SlashReason, Validator, ValidatorState, Verdict
from .rounds import OPEN_LEAF_KIND, _draw, _enqueue_draw, _seat, open_record, scoring_rules
from .slashing import apply_slash

BPS = 10_000
MAX_LEVEL = 2
# Reason codes a validator node writes for faults anyone can re-check from the bytes: the hash,
# the type, a duplicate, a parse failure. Only these are slashed when an appeal overturns them.
OBJECTIVE_CODES = frozenset(
    {
        "hash_mismatch",
        "size_mismatch",
        "type_mismatch",
        "executable_content",
        "near_duplicate",
        "duplicate",
        "parse_error",
    }
)
DECISION_LEAF_KIND = "appeal_decision"


def _codes(reason: str) -> set[str]:
    return {part.split(":", 1)[0].strip() for part in (reason or "").split("; ") if ":" in part}


def _chain(r: Round) -> list[Round]:
    """The round and every round it re-decides, newest first."""
    out = [r]
    while out[-1].appeal_of_id is not None:
        out.append(Round.objects.get(pk=out[-1].appeal_of_id))
    return out


def appealable(r: Round) -> bool:
    """A closed decision the contributor may appeal: rejected, or accepted with a composite
    score under the quorum's `score_low_bps`; never a final (second-level) one."""
    if r.state != RoundState.CLOSED or r.appeal_level >= MAX_LEVEL:
        return False
    if r.outcome == "rejected":
        return True
    return r.outcome == "accepted" and bool(r.scores) and int(r.scores.get("composite", BPS)) < r.quorum.score_low_bps


def appeal_file(*, round_id: int, user: Any, reason: str) -> Appeal:
    """The contributor appeals round `round_id`'s decision: checks (each its own code, nothing
    moved), the bond to escrow, and the panel's round opened, in one transaction. The round row is
    locked first, so two appeals of one decision at once make one appeal (the other: appeal_exists)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000:
        from portal.errors import DomainError

        raise DomainError("Say why the decision is wrong (1 to 2000 characters).", code="invalid_input", status=422)
    try:
        with transaction.atomic():
            r = (
                Round.objects.select_for_update(of=("self",))
                .select_related("quorum", "idao")
                .annotate(db_now=Now())
                .filter(pk=round_id)
                .first()
            )
            if r is None:
                raise RoundNotFound(f"There is no validation round {round_id}.")
            if Appeal.objects.filter(round=r).exists():
                raise AppealExists(f"Round {r.pk}'s decision was already appealed.")
            if r.appeal_level >= MAX_LEVEL:
                raise AppealFinal(f"Round {r.pk} is a second-level appeal; its decision is final.")
            if not appealable(r):
                raise NotAppealable(f"Round {r.pk} is {r.state} ({r.outcome or 'undecided'}); it cannot be appealed.")
            facts = hooks.subject_kind(r.subject_kind).describe([r.subject_ref]).get(r.subject_ref) or {}
            if str(facts.get("owner") or "").lower() != str(getattr(user, "address", "")).lower():
                raise NotContributor("Only the contributor of this subject may appeal its decision.")
            quorum = r.quorum
            if r.closed_at is None or r.db_now > r.closed_at + quorum.appeal_window:
                raise AppealWindowClosed(
                    f"Round {r.pk}'s appeal window closed at {(r.closed_at or r.db_now):%Y-%m-%d %H:%M} UTC + "
                    f"{quorum.appeal_window}."
                )
            panel = panel_open(round_=r, now=r.db_now)
            appeal = Appeal.objects.create(
                round=r,
                appeal_round=panel,
                level=r.appeal_level + 1,
                appellant=user,
                address=user.address,
                reason=reason,
                bond=quorum.appeal_bond,
                bond_asset=quorum.appeal_bond_asset,
                created_at=r.db_now,
            )
            ledger.transfers_post(
                transfers=[
                    ledger.TransferIn(
                        source=f"user:{user.address}",
                        destination=appeal.escrow_owner,
                        asset=appeal.bond_asset,
                        amount=int(appeal.bond),
                        kind=LedgerKind.TRANSFER,
                        idempotency_key=f"appeal:{appeal.pk}:bond",
                        memo=f"appeal bond for round {r.pk}",
                    )
                ]
            )
            _emit_filed(appeal, r)
            return appeal
    except IntegrityError:
        # The one-appeal-per-decision constraint, if a writer got past the row lock.
        raise AppealExists(f"Round {round_id}'s decision was already appealed.") from None


def _emit_filed(appeal: Appeal, r: Round) -> None:
    """appeal.filed: to the iDAO's stewards and the validators of the appealed round."""
    stewards = Membership.objects.filter(idao_id=r.idao_id, status=MembershipStatus.ACTIVE, role=Role.STEWARD)
    validators = Validator.objects.filter(pk__in=Seat.objects.filter(round=r).values("validator_id"))
    emit(
        kind="appeal.filed",
        idao=r.idao_id,
        subject=f"round:{r.pk}",
        actor=appeal.appellant_id,
        recipients=[*stewards.values_list("user_id", flat=True), *validators.values_list("user_id", flat=True)],
        payload={
            "title": f"round {r.pk} ({r.outcome}) appealed",
            "appeal": appeal.pk,
            "round": r.pk,
            "appeal_round": appeal.appeal_round_id,
            "level": appeal.level,
            "bond": [appeal.bond_asset, int(appeal.bond)],
            "reason": appeal.reason,
            "url": f"/rounds/{r.pk}/",
        },
    )


def panel_open(*, round_: Round, now: Any) -> Round:
    """Inside the caller's transaction: open a panel round re-deciding `round_`'s subject, of
    2n+1 seats (n: its seats) drawn from the quorum's active validators that sat on no earlier
    round of its chain (AppealPanelUnavailable when too few). Appeals and DAT challenges use it."""
    quorum = round_.quorum
    chain = _chain(round_)
    seated = set(Seat.objects.filter(round__in=chain).values_list("validator_id", flat=True))
    size = 2 * round_.seats.count() + 1
    rows = [
        (vid, int(stake), address)
        for vid, stake, address in Validator.objects.filter(quorum=quorum, state=ValidatorState.ACTIVE)
        .exclude(pk__in=seated)
        .order_by("pk")
        .values_list("pk", "stake", "address")
        if stake >= quorum.min_bond
    ]
    if len(rows) < size:
        raise AppealPanelUnavailable(
            f"A panel needs {size} validators outside the earlier rounds; {len(rows)} are available."
        )
    return _open_panel(round_, quorum, rows, size, now=now)


def _open_panel(r: Round, quorum: Any, rows: list[tuple[int, int, str]], size: int, *, now: Any) -> Round:
    """The appeal round: like any round (the seed from the latest sealed block and public
    values, the same draw; with a public chain configured it waits in `drawing` for the chain's
    first block after its opening, as first rounds do), over the candidates outside the earlier
    rounds; attempt is 1000·level + the first round's attempt, so the seed and the (subject,
    attempt) key differ."""
    [round_id] = reserve_ids(Round, 1)
    head = sealed_head()
    block_height, block_hash = head if head else (0, ZERO_HASH)
    level = r.appeal_level + 1
    attempt = 1000 * level + r.attempt % 1000
    chain_id = seed_chain_id()
    seed = round_seed(
        block_hash=block_hash, quorum_id=quorum.pk, round_id=round_id, content_hash=r.content_hash, attempt=attempt
    )
    candidates = [[vid, address, stake] for vid, stake, address in rows]
    committee = [] if chain_id else _draw(seed, candidates, size)
    panel = Round(
        pk=round_id,
        quorum=quorum,
        idao_id=r.idao_id,
        subject_kind=r.subject_kind,
        subject_ref=r.subject_ref,
        content_hash=r.content_hash,
        attempt=attempt,
        seed="" if chain_id else seed,
        state=RoundState.DRAWING if chain_id else RoundState.OPEN,
        beacon_chain_id=chain_id or None,
        draw_note=f"Waiting for the first block of chain {chain_id} after the opening." if chain_id else "",
        candidates=candidates,
        seed_block_height=block_height,
        seed_block_hash=block_hash,
        opened_at=now,
        deadline=now + quorum.round_duration,
        params={name: getattr(quorum, name) for name in QUORUM_RULES}
        | scoring_rules(quorum)
        | {"committee_size": size},
        appeal_of=r,
        appeal_level=level,
    )
    record = open_record(panel, committee=committee) | {"committee_size": size, "appeal_of": r.pk, "level": level}
    panel.open_anchor_leaf_id = ledger.anchor(kind=OPEN_LEAF_KIND, subject=f"round-open:{round_id}", payload=record).pk
    panel.save(force_insert=True)
    _seat([panel], [committee])
    if chain_id:
        _enqueue_draw([panel.pk])
    return panel


def on_rounds_closed(rounds: Sequence[Round]) -> None:
    """The closed-rounds hook quorums registers first (QuorumsConfig.ready)."""
    appeals_decide(rounds)


def appeals_decide(rounds: Sequence[Round]) -> list[Appeal]:
    """Inside the closing transaction: decide the appeals whose panel rounds just closed (see the
    module's docstring), move the bond, slashes, bounty and fees on the ledger, anchor each
    decision and run the on_appeals_decided hooks. Only open appeals are decided (idempotent)."""
    panels = {r.pk: r for r in rounds if getattr(r, "appeal_of_id", None) is not None}
    if not panels:
        return []
    appeals = list(
        Appeal.objects.select_for_update()
        .select_related("round", "round__quorum", "round__idao", "appellant")
        .filter(appeal_round_id__in=list(panels), state=Appeal.State.OPEN)
        .order_by("pk")
    )
    for appeal in appeals:
        appeal.appeal_round = panels[appeal.appeal_round_id]
        _decide(appeal, appeal.appeal_round)
    if appeals:
        hooks.run_appeals_decided(appeals)
    return appeals


def _decide(appeal: Appeal, panel: Round) -> None:
    prior = appeal.round
    idao = prior.idao
    bond, asset = int(appeal.bond), appeal.bond_asset
    appellant = f"user:{appeal.address}"
    moves: list[ledger.TransferIn] = []
    slashes: list[list[Any]] = []
    fees: list[list[Any]] = []
    bounty = 0

    def move(
        destination: str,
        amount: int,
        what: str,
        *,
        source: str | None = None,
        kind: str = LedgerKind.TRANSFER,
        currency: str | None = None,
    ) -> None:
        if amount > 0:
            moves.append(
                ledger.TransferIn(
                    source=source or appeal.escrow_owner,
                    destination=destination,
                    asset=currency or asset,
                    amount=amount,
                    kind=kind,
                    idempotency_key=f"appeal:{appeal.pk}:{what}",
                    memo=f"appeal {appeal.pk} of round {prior.pk}: {what}",
                )
            )

    if panel.outcome == "inconclusive":
        state = Appeal.State.VOID
        move(appellant, bond, "bond-returned")
    elif (prior.outcome == "rejected" and panel.outcome == "accepted") or (
        prior.outcome == "accepted"
        and panel.outcome == "accepted"
        and int(panel.scores.get("composite", 0)) > int(prior.scores.get("composite", 0))
    ):
        state = Appeal.State.OVERTURNED
        move(appellant, bond, "bond-returned")
        if prior.outcome == "rejected":  # a re-score is a subjective difference: nobody is slashed
            slash_transfers: list[ledger.TransferIn] = []
            stakes = dict(Seat.objects.filter(round=prior).values_list("validator_id", "stake"))
            first: dict[int, Verdict] = {}
            for v in Verdict.objects.filter(round=prior).select_related("validator").order_by("pk"):
                first.setdefault(v.validator_id, v)
            for vid, v in sorted(first.items()):
                if v.verdict != "reject" or not (_codes(v.reason) & OBJECTIVE_CODES):
                    continue
                s = apply_slash(
                    validator=v.validator,
                    round_=prior,
                    reason=SlashReason.OVERTURNED,
                    rate_bps=prior.rule("slash_minority_bps"),
                    key=f"slash:appeal:{appeal.pk}:{vid}",
                    idao=idao,
                    transfers=slash_transfers,
                    committed=int(stakes.get(vid, 0)),
                )
                if s is not None:
                    slashes.append([v.validator.address, int(s.amount)])
            ledger.transfers_post(transfers=slash_transfers)
            bounty = sum(amount for _, amount in slashes) * prior.quorum.appeal_bounty_bps // BPS
            move(appellant, bounty, "bounty", source=idao.treasury_owner, kind=LedgerKind.TRANSFER, currency="LAZ")
    else:
        state = Appeal.State.UPHELD
        fee = bond * prior.quorum.appeal_fee_bps // BPS
        winning = "approve" if panel.outcome == "accepted" else "reject"
        voters = dict(
            Verdict.objects.filter(round=panel, verdict=winning)
            .order_by("pk")
            .values_list("validator_id", "validator__address")
        )
        seats = {
            vid: int(stake)
            for vid, stake in Seat.objects.filter(round=panel, validator_id__in=voters).values_list(
                "validator_id", "stake"
            )
        }
        total = sum(seats.values())
        paid = 0
        for vid in sorted(seats):
            share = fee * seats[vid] // total if total else 0
            if share:
                move(f"user:{voters[vid]}", share, f"fee:{vid}")
                fees.append([voters[vid], share])
                paid += share
        move(idao.treasury_owner, bond - paid, "bond-to-treasury")
    ledger.transfers_post(transfers=moves)
    outcome = {
        "bond": [asset, bond],
        "bond_to": "appellant" if state != Appeal.State.UPHELD else "treasury",
        "bounty": bounty,
        "slashes": slashes,
        "fees": fees,
    }
    leaf = ledger.anchor(
        kind=DECISION_LEAF_KIND,
        subject=f"appeal:{appeal.pk}",
        payload={
            "appeal": appeal.pk,
            "level": appeal.level,
            "round": prior.pk,
            "appeal_round": panel.pk,
            "appellant": appeal.address,
            "decision": prior.outcome,
            "panel_outcome": panel.outcome,
            "panel_scores": panel.scores,
            "state": state,
            **outcome,
        },
    )
    Appeal.objects.filter(pk=appeal.pk).update(
        state=state, outcome=outcome, anchor_leaf_id=leaf.pk, decided_at=panel.closed_at
    )
    appeal.state, appeal.outcome, appeal.anchor_leaf_id = state, outcome, leaf.pk
    emit(
        kind="appeal.decided",
        idao=idao.pk,
        subject=f"round:{prior.pk}",
        # The appellant, and each validator the decision slashed (who also gets validator.slashed).
        recipients=[
            appeal.appellant_id,
            *Validator.objects.filter(quorum=prior.quorum, address__in=[a for a, _ in slashes]).values_list(
                "user_id", flat=True
            ),
        ],
        payload={
            "title": f"appeal of round {prior.pk} {state}",
            "appeal": appeal.pk,
            "round": prior.pk,
            "appeal_round": panel.pk,
            "state": state,
            **outcome,
            "url": f"/rounds/{prior.pk}/",
        },
    )
