"""Challenges to minted DATs: anyone may challenge a DAT within its window (until the end of
the reward epoch after the one it was minted in, from the provider rewards registers in
dats.hooks; the quorum's appeal window counted from the mint when no provider answers; judged by
database time) with a bond in escrow, a reason code and
evidence. A panel round (quorums.services.panel_open: 2n+1 seats, disjoint from the DAT's round)
re-validates the content with the challenge in view; its verdict `reject` upholds the challenge.
While open, the DAT is `contested` and its contributor payouts go to `escrow:dat:<id>` (as they
do, challenged or not, while the DAT is inside its window: rewards.services.escrows releases them
to the owner when the window closes with no challenge open).

    upheld     the DAT is revoked, its escrowed payouts go back to the reward pool (paid out in
               the next epoch), the bond comes back plus a bounty (appeal_bounty_bps of the
               slashes: a `duplicate` challenge is objective, so the DAT round's approvers are
               slashed at the minority rate; other reasons slash nobody)
    dismissed  the bond goes half to the DAT's owner, the rest to the iDAO treasury; the escrowed
               payouts go to the owner
    void       (an inconclusive panel) the bond comes back; the escrowed payouts go to the owner"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ledger import owners
from ledger import services as ledger
from ledger.models import Kind as LedgerKind
from ledger.selectors import balance
from portal.errors import Conflict, DomainError, NotFound
from portal.events import emit
from quorums import services as quorum_services
from quorums.models import Round, Seat, SlashReason, Verdict

from .. import hooks, policies
from ..models import DAT, Challenge
from .owner_actions import _set_policy

BPS = 10_000
DECISION_LEAF_KIND = "dat.challenge_decision"


class DatContested(Conflict):
    code = "dat_contested"


class ChallengeWindowClosed(Conflict):
    code = "challenge_window_closed"


def window_clock() -> datetime:
    """The time a challenge window is judged by: the database's clock now, read after the caller
    has locked the DAT row (not its transaction's start, which may precede the wait for the lock).
    A challenge and the escrow release (rewards) both lock the DAT row, then read this clock: the
    one that waited reads a later time, so a window is either still open to the challenge or
    closed and released, never both."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time, its clock is ours
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def challenge_file(*, dat_id: int, user: Any, reason_code: str, evidence: str, duplicate_of: str = "") -> Challenge:
    """File a challenge: checks (each its own code, nothing moved), the bond to escrow, the DAT
    contested and the panel drawn, in one transaction with the DAT row locked first (two
    challenges at once: one, the other dat_contested)."""
    evidence = (evidence or "").strip()
    duplicate_of = (duplicate_of or "").strip()
    if reason_code not in Challenge.Reason.values:
        raise DomainError(
            f"reason_code is one of {', '.join(Challenge.Reason.values)}.", code="invalid_input", status=422
        )
    if not evidence or len(evidence) > 2000 or len(duplicate_of) > 80:
        raise DomainError("Give evidence (1 to 2000 characters).", code="invalid_input", status=422)
    try:
        with transaction.atomic():
            dat = (
                DAT.objects.select_for_update(of=("self",))
                .select_related("round", "round__quorum", "idao")
                .filter(pk=dat_id)
                .first()
            )
            if dat is None:
                raise NotFound(f"There is no DAT #{dat_id}.", code="dat_not_found")
            db_now = window_clock()
            if dat.revoked_at is not None:
                raise DomainError(f"DAT #{dat_id} is revoked.", code="dat_revoked", status=403)
            if dat.contested_at is not None or Challenge.objects.filter(dat=dat, state=Challenge.State.OPEN).exists():
                raise DatContested(f"DAT #{dat_id} is already under challenge.")
            quorum = dat.round.quorum
            ends = hooks.challenge_window_ends([dat])[dat.pk]
            if db_now > ends:
                raise ChallengeWindowClosed(f"DAT #{dat_id}'s challenge window closed at {ends:%Y-%m-%d %H:%M} UTC.")
            panel = quorum_services.panel_open(round_=dat.round, now=db_now)
            challenge = Challenge.objects.create(
                dat=dat,
                challenger=user,
                address=user.address,
                reason_code=reason_code,
                evidence=evidence,
                duplicate_of=duplicate_of,
                bond=quorum.appeal_bond,
                bond_asset=quorum.appeal_bond_asset,
                panel_round=panel,
                created_at=db_now,
            )
            ledger.transfers_post(
                transfers=[
                    ledger.TransferIn(
                        source=owners.user(user.address),
                        destination=challenge.escrow_owner,
                        asset=challenge.bond_asset,
                        amount=int(challenge.bond),
                        kind=LedgerKind.TRANSFER,
                        idempotency_key=f"challenge:{challenge.pk}:bond",
                        memo=f"challenge bond for DAT #{dat.pk}",
                    )
                ]
            )
            DAT.objects.filter(pk=dat.pk).update(contested_at=db_now)
            emit(
                kind="dat.challenged",
                idao=dat.idao_id,
                subject=f"dat:{dat.pk}",
                actor=user,
                recipients=[dat.owner_id],
                payload={
                    "title": f"DAT #{dat.pk} challenged ({reason_code})",
                    "challenge": challenge.pk,
                    "reason_code": reason_code,
                    "evidence": evidence,
                    "bond": [challenge.bond_asset, int(challenge.bond)],
                    "panel_round": panel.pk,
                },
            )
            return challenge
    except IntegrityError:
        raise DatContested(f"DAT #{dat_id} is already under challenge.") from None


def on_rounds_closed(rounds: Sequence[Round]) -> None:
    """quorums hook (inside the closing transaction): decide the challenges whose panel closed."""
    panels = {r.pk: r for r in rounds if getattr(r, "appeal_of_id", None) is not None}  # only panels decide
    if not panels:
        return
    ids = list(panels)
    for challenge in (
        Challenge.objects.select_for_update()
        .select_related("dat", "dat__owner", "dat__idao", "dat__round", "dat__round__quorum")
        .filter(panel_round_id__in=ids, state=Challenge.State.OPEN)
        .order_by("pk")
    ):
        _decide(challenge, panels[challenge.panel_round_id])


def _decide(challenge: Challenge, panel: Round) -> None:
    dat = challenge.dat
    first = dat.round
    quorum = first.quorum
    treasury = dat.idao.treasury_owner
    bond, asset = int(challenge.bond), challenge.bond_asset
    moves: list[ledger.TransferIn] = []
    slashes: list[list[Any]] = []

    def move(source: str, destination: str, currency: str, amount: int, what: str) -> None:
        if amount > 0:
            moves.append(
                ledger.TransferIn(
                    source=source,
                    destination=destination,
                    asset=currency,
                    amount=amount,
                    kind=LedgerKind.TRANSFER,
                    idempotency_key=f"challenge:{challenge.pk}:{what}",
                    memo=f"challenge {challenge.pk} of DAT #{dat.pk}: {what}",
                )
            )

    escrowed = {a: balance(dat.escrow_owner, a) for a in ("LAZ", "CREDIT")}
    bounty = 0
    if panel.outcome == "rejected":
        state = Challenge.State.UPHELD
        move(challenge.escrow_owner, owners.user(challenge.address), asset, bond, "bond-returned")
        for a, amount in escrowed.items():
            move(dat.escrow_owner, owners.REWARD_POOL, a, amount, f"escrow-to-pool:{a}")
        if challenge.reason_code == Challenge.Reason.DUPLICATE:  # objective: anyone can re-check it
            slash_transfers: list[ledger.TransferIn] = []
            stakes = dict(Seat.objects.filter(round=first).values_list("validator_id", "stake"))
            approvers: dict[int, Verdict] = {}
            for v in Verdict.objects.filter(round=first).select_related("validator").order_by("pk"):
                approvers.setdefault(v.validator_id, v)
            for vid, v in sorted(approvers.items()):
                if v.verdict != "approve":
                    continue
                s = quorum_services.apply_slash(
                    validator=v.validator,
                    round_=first,
                    reason=SlashReason.OVERTURNED,
                    rate_bps=first.rule("slash_minority_bps"),
                    key=f"slash:challenge:{challenge.pk}:{vid}",
                    idao=dat.idao,
                    transfers=slash_transfers,
                    committed=int(stakes.get(vid, 0)),
                )
                if s is not None:
                    slashes.append([v.validator.address, int(s.amount)])
            ledger.transfers_post(transfers=slash_transfers)
            bounty = sum(a for _, a in slashes) * quorum.appeal_bounty_bps // BPS
            move(treasury, owners.user(challenge.address), "LAZ", bounty, "bounty")
        current = policies.policy_of(dat)
        _set_policy(
            dat,
            policies.Policy(
                allowed_uses=current.allowed_uses,
                price_credit=current.price_credit,
                quota=current.quota,
                expires_at=current.expires_at,
                revoked=True,
            ),
            actor=None,
        )
    else:
        state = Challenge.State.DISMISSED if panel.outcome == "accepted" else Challenge.State.VOID
        owner = owners.user(dat.owner.address)
        if state == Challenge.State.DISMISSED:
            half = bond // 2
            move(challenge.escrow_owner, owner, asset, half, "bond-to-owner")
            move(challenge.escrow_owner, treasury, asset, bond - half, "bond-to-treasury")
        else:
            move(challenge.escrow_owner, owners.user(challenge.address), asset, bond, "bond-returned")
        for a, amount in escrowed.items():
            move(dat.escrow_owner, owner, a, amount, f"escrow-to-owner:{a}")
    ledger.transfers_post(transfers=moves)
    outcome = {
        "bond": [asset, bond],
        "bounty": bounty,
        "slashes": slashes,
        "escrow": {a: v for a, v in escrowed.items() if v},
        "escrow_to": "pool" if state == Challenge.State.UPHELD else "owner",
    }
    leaf = ledger.anchor(
        kind=DECISION_LEAF_KIND,
        subject=f"challenge:{challenge.pk}",
        payload={
            "challenge": challenge.pk,
            "dat": dat.pk,
            "reason_code": challenge.reason_code,
            "challenger": challenge.address,
            "panel_round": panel.pk,
            "panel_outcome": panel.outcome,
            "state": state,
            **outcome,
        },
    )
    Challenge.objects.filter(pk=challenge.pk).update(
        state=state, outcome=outcome, anchor_leaf_id=leaf.pk, decided_at=panel.closed_at
    )
    DAT.objects.filter(pk=dat.pk).update(contested_at=None)
    emit(
        kind="dat.challenge_decided",
        idao=dat.idao_id,
        subject=f"dat:{dat.pk}",
        recipients=[challenge.challenger_id, dat.owner_id],
        payload={
            "title": f"challenge of DAT #{dat.pk} {state}",
            "challenge": challenge.pk,
            "panel_round": panel.pk,
            "state": state,
            **outcome,
        },
    )
