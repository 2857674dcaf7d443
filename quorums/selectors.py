"""Reads shaped for pages, the API and the VSC."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.functions import Coalesce, Now

from .eip712 import CRITERIA
from .models import Appeal, Quorum, Round, RoundState, Seat, Validator, ValidatorState, Verdict

VALIDATOR_SCOPE = "validator"  # the API-token scope of a validator node (portal.api_tokens.SCOPES)


def quorum_pick(*, idao_id: int) -> Quorum | None:
    """The VSC's choice: a trusted, unpaused quorum with at least committee_size active validators
    holding min_bond each; among those, the one with the fewest open rounds (then the oldest)."""
    return quorum_candidates(idao_id=idao_id).first()


def quorum_candidates(*, idao_id: int) -> QuerySet[Quorum]:
    """Every quorum the VSC may pick for this iDAO, best first, each annotated with `pending`
    (its open rounds): quorum_pick is the first of them."""
    ready = (
        Validator.objects.filter(quorum=OuterRef("pk"), state=ValidatorState.ACTIVE, stake__gte=OuterRef("min_bond"))
        .order_by()
        .values("quorum")
        .annotate(n=Count("pk"))
        .values("n")
    )
    pending = (
        Round.objects.filter(quorum=OuterRef("pk"), state__in=[RoundState.OPEN, RoundState.DRAWING])
        .order_by()
        .values("quorum")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Quorum.objects.filter(paused=False, trusts__idao_id=idao_id, trusts__active=True)
        .annotate(ready=Coalesce(Subquery(ready), 0), pending=Coalesce(Subquery(pending), 0))
        .filter(ready__gte=F("committee_size"))
        .order_by("pending", "id")
    )


def quorum_choices(idao: Any) -> list[tuple[int, str]]:
    """Quorums for the proposal builder's trust/drop fields, each saying whether the iDAO trusts it."""
    trusted = set(Quorum.objects.filter(trusts__idao_id=idao.pk, trusts__active=True).values_list("pk", flat=True))
    return [
        (q.pk, f"{q.name}{' (trusted now)' if q.pk in trusted else ''}{' (paused)' if q.paused else ''}")
        for q in Quorum.objects.order_by("name")[:200]
    ]


def paused_trusted_quorums(*, idao_ids: set[int]) -> dict[int, list[str]]:
    """For each iDAO, the names of the quorums it trusts that moderators have paused (a waiting
    contribution's reason names them)."""
    out: dict[int, list[str]] = {}
    rows = (
        Quorum.objects.filter(paused=True, trusts__idao_id__in=idao_ids, trusts__active=True)
        .values_list("trusts__idao_id", "name")
        .order_by("name")
    )
    for idao_id, name in rows:
        out.setdefault(idao_id, []).append(name)
    return out


def has_active_assignment(*, user: Any, subject_kind: str, subject_ref: str) -> bool:
    """True when `user` sits on the committee of an open, not yet overdue round for this subject."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return Seat.objects.filter(
        validator__user_id=user.pk,
        round__subject_kind=subject_kind,
        round__subject_ref=subject_ref,
        round__state=RoundState.OPEN,
        round__deadline__gt=Now(),
    ).exists()


def has_active_seat(*, user: Any, round_id: int | None, subject_kind: str, subject_ref: str, content_hash: str) -> bool:
    """True when `user` is an active validator seated on round `round_id` (open, not overdue),
    and that round is about exactly this subject and content hash: what a validator-scoped API
    token may download (one query)."""
    if user is None or round_id is None:
        return False
    return Seat.objects.filter(
        validator__user_id=user.pk,
        validator__state=ValidatorState.ACTIVE,
        round_id=round_id,
        round__subject_kind=subject_kind,
        round__subject_ref=subject_ref,
        round__content_hash=content_hash,
        round__state=RoundState.OPEN,
        round__deadline__gt=Now(),
    ).exists()


def assignment_list(*, address: str, limit: int | None = None) -> QuerySet[Seat]:
    """Open rounds where `address` sits on the committee and has not yet signed."""
    return (
        Seat.objects.filter(address=address, round__state=RoundState.OPEN, round__deadline__gt=Now())
        .exclude(round__verdicts__validator_id=F("validator_id"))
        .select_related("round", "round__quorum", "round__idao")
        .order_by("round__deadline", "round_id")
    )[:limit]


def reject_reasons(round_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """round id -> the (code, sentence) pairs of its rejecting verdicts' reasons, in order, each
    once (a reason is `code: sentence; code: sentence`, as validator nodes write it). One query."""
    out: dict[int, list[tuple[str, str]]] = {}
    rows = (
        Verdict.objects.filter(round_id__in=list(round_ids), verdict="reject")
        .order_by("pk")
        .values_list("round_id", "reason")
    )
    for round_id, reason in rows:
        items = out.setdefault(round_id, [])
        for part in (reason or "").split("; "):
            code, sep, sentence = part.partition(": ")
            code, sentence = code.strip(), sentence.strip()
            pair = (code, sentence) if sep and code.replace("_", "").isalnum() else ("", part.strip())
            if (pair[1] or pair[0]) and pair not in items:
                items.append(pair)
    return out


def _evidence_codes(evidence: str) -> dict[str, list[str]]:
    """criterion -> the check codes a ScoredVerdict's evidence names ("check: code"), {} when
    the evidence is not the JSON nodes write."""
    try:
        parsed = json.loads(evidence) if evidence else {}
        return {c: [f"{row[0]}: {row[1]}" for row in parsed.get(c, [])] for c in CRITERIA}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        return {}


def appeal_list(*, quorum_id: int, limit: int = 200) -> list[Appeal]:
    """A quorum's appeals, open ones first, then newest first."""
    return list(
        Appeal.objects.filter(round__quorum_id=quorum_id).order_by(Case(When(state="open", then=0), default=1), "-pk")[
            :limit
        ]
    )


def appeal_options(round_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """round id -> what its contributor needs to decide on appealing, for the closed decisions
    that can be appealed now (quorums.services.appeals.appealable, no appeal yet, window open by
    database time): the bond, its asset, the window's end and the seconds left. Two queries."""
    rounds = list(
        Round.objects.filter(pk__in=list(round_ids), state=RoundState.CLOSED, appeal__isnull=True)
        .select_related("quorum")
        .annotate(db_now=Now())
    )
    out = {}
    for r in rounds:
        q = r.quorum
        low = bool(r.scores) and int(r.scores.get("composite", 10_000)) < q.score_low_bps
        if r.appeal_level >= 2 or not (r.outcome == "rejected" or (r.outcome == "accepted" and low)):
            continue
        ends = (r.closed_at or r.db_now) + q.appeal_window
        left = int((ends - r.db_now).total_seconds())
        if left > 0:
            out[r.pk] = {
                "round": r.pk,
                "bond": int(q.appeal_bond),
                "asset": q.appeal_bond_asset,
                "ends": ends,
                "hours_left": left // 3600,
                "panel": 2 * r.seats.count() + 1,
                "bounty_pct": q.appeal_bounty_bps // 100,
                "fee_pct": q.appeal_fee_bps // 100,
                "rescore": r.outcome == "accepted",
            }
    return out


def verdicts_sealed(r: Round) -> bool:
    """True while a panel re-deciding this round has not decided: an open appeal of its decision,
    or any panel round re-deciding it still open (a DAT challenge's panel: `appeal_of` is the
    challenged DAT's round; the challenge is decided in that panel's closing transaction)."""
    return (
        Appeal.objects.filter(round=r, state=Appeal.State.OPEN).exists()
        or Round.objects.filter(appeal_of=r).exclude(state=RoundState.CLOSED).exists()
    )


def appeal_chain(r: Round) -> list[Round]:
    """The round's chain of rounds, the first decision first: the rounds it re-decides, itself,
    and the appeal rounds that re-decide it."""
    back = [r]
    while back[0].appeal_of_id is not None:
        back.insert(0, Round.objects.get(pk=back[0].appeal_of_id))
    forward = back[-1]
    while (nxt := Round.objects.filter(appeal_of=forward).first()) is not None:
        back.append(nxt)
        forward = nxt
    return back


def score_breakdowns(round_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """round id -> {"scores": the round's score ({} before the close or without scored verdicts),
    "verdicts": [{validator, verdict, reason, scores, checks}]} in verdict order. Two queries."""
    out: dict[int, dict[str, Any]] = {
        pk: {"scores": scores or {}, "verdicts": []}
        for pk, scores in Round.objects.filter(pk__in=list(round_ids)).values_list("pk", "scores")
    }
    rows = (
        Verdict.objects.filter(round_id__in=list(out))
        .order_by("pk")
        .values_list("round_id", "validator__address", "verdict", "reason", "scores", "evidence")
    )
    for round_id, address, verdict, reason, scores, evidence in rows:
        out[round_id]["verdicts"].append(
            {
                "validator": address,
                "verdict": verdict,
                "reason": reason,
                "scores": scores,
                "checks": _evidence_codes(evidence),
            }
        )
    return out


@dataclass(frozen=True)
class Assignment:
    """One open seat without a verdict yet, as the assignments API needs it (no model rows)."""

    pk: int  # the round's id (what subject_facts and subject_contents key by)
    address: str
    deadline: datetime
    content_hash: str
    subject_kind: str
    subject_ref: str


_ASSIGNMENTS_SQL = """
SELECT r.id, s.address, r.deadline, r.content_hash, r.subject_kind, r.subject_ref
FROM quorums_seat s JOIN quorums_round r ON r.id = s.round_id
WHERE s.address = %s AND r.state = %s AND r.deadline > {now}
  AND NOT EXISTS (SELECT 1 FROM quorums_verdict v WHERE v.round_id = s.round_id AND v.validator_id = s.validator_id)
ORDER BY r.deadline, s.round_id
LIMIT %s
"""


def assignments_open(*, address: str, limit: int) -> list[Assignment]:
    """assignment_list for the API's hot path (every node polls it): the same rows, earliest
    deadline first, in one plain query with only the columns the answer uses (the ORM's
    exclude-across-a-relation costs more to compile than the query takes to run)."""
    from django.db import connection

    with connection.cursor() as cursor:
        sqlite = connection.vendor == "sqlite"  # the embedded default: what Django's Now() compiles to
        now = "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')" if sqlite else "STATEMENT_TIMESTAMP()"
        cursor.execute(_ASSIGNMENTS_SQL.format(now=now), [address, RoundState.OPEN, int(limit)])
        rows = cursor.fetchall()
    if sqlite:  # SQLite hands back text or naive datetimes (stored in UTC); make them what the ORM gives
        from datetime import UTC

        from django.utils.dateparse import parse_datetime

        def aware(value: Any) -> Any:
            value = parse_datetime(value) if isinstance(value, str) else value
            return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

        rows = [(rid, a, aware(d), *rest) for rid, a, d, *rest in rows]
    return [Assignment(*row) for row in rows]


def round_get(round_id: int) -> Round:
    from .errors import RoundNotFound

    r = Round.objects.select_related("quorum", "idao").filter(pk=round_id).first()
    if r is None:
        raise RoundNotFound(f"There is no validation round {round_id}.")
    return r


def candidates_json(r: Round) -> list[dict[str, Any]]:
    """The candidates the draw saw: `{validator, address, stake}` (rounds opened before addresses
    were recorded have none)."""
    out = []
    for row in r.candidates:
        vid, address, stake = (row[0], row[1], row[2]) if len(row) == 3 else (row[0], None, row[1])
        out.append({"validator": vid, "address": address, "stake": int(stake)})
    return out


def quorum_list() -> QuerySet[Quorum]:
    return Quorum.objects.annotate(
        active_validators=Count("validators", filter=Q(validators__state=ValidatorState.ACTIVE), distinct=True),
        open_rounds=Count("rounds", filter=Q(rounds__state=RoundState.OPEN), distinct=True),
    ).order_by("name")


def quorum_get(quorum_id: int, *, lock: bool = False) -> Quorum:
    """The quorum, or QuorumNotFound; with `lock`, SELECT … FOR UPDATE (inside a transaction)."""
    from .errors import QuorumNotFound

    qs = Quorum.objects.select_for_update() if lock else Quorum.objects
    try:
        return qs.get(pk=quorum_id)
    except Quorum.DoesNotExist:
        raise QuorumNotFound(f"There is no quorum {quorum_id}.") from None


def total_stake(quorum: Quorum) -> int:
    """The stake of the quorum's active validators."""
    return int(quorum.validators.filter(state=ValidatorState.ACTIVE).aggregate(s=Sum("stake"))["s"] or 0)


def subject_facts(rounds: Sequence[Round | Assignment]) -> dict[int, dict[str, Any]]:
    """round id -> the facts its subject kind gives validators, one describe() per kind."""
    from . import hooks

    refs: dict[str, list[str]] = {}
    for r in rounds:
        refs.setdefault(r.subject_kind, []).append(r.subject_ref)
    facts = {kind: hooks.subject_kind(kind).describe(kind_refs) for kind, kind_refs in refs.items()}
    return {r.pk: facts[r.subject_kind].get(r.subject_ref, {}) for r in rounds}


def subject_contents(
    rounds: Sequence[Round | Assignment], facts: dict[int, dict[str, Any]], *, max_bytes: int, max_total: int
) -> dict[int, bytes]:
    """round id -> the subject's bytes, for subjects whose facts give a `size` of at most
    `max_bytes`, until `max_total` bytes in all; opened through the subject kind's `open` hook
    (Django's storage API), one query per kind. A file that reads longer than its size is left out."""
    from . import hooks

    wanted: list[Round | Assignment] = []
    total = 0
    for r in rounds:
        size = facts.get(r.pk, {}).get("size")
        if isinstance(size, int) and size <= max_bytes and total + size <= max_total:
            wanted.append(r)
            total += size
    refs: dict[str, list[str]] = {}
    for r in wanted:
        refs.setdefault(r.subject_kind, []).append(r.subject_ref)
    openers = {kind: hooks.subject_kind(kind).open(kind_refs) for kind, kind_refs in refs.items()}
    out: dict[int, bytes] = {}
    for r in wanted:
        opener = openers[r.subject_kind].get(r.subject_ref)
        if opener is None:
            continue
        fh, _name = opener()
        with fh:
            data = fh.read(max_bytes + 1)
        if len(data) <= max_bytes:
            out[r.pk] = data
    return out


def idao_panel(idao: Any) -> dict[str, Any]:
    """The iDAO page's trusted quorums (idaos.hooks.register_idao_panel, from QuorumsConfig.ready())."""
    from django.urls import reverse

    from .models import QuorumTrust

    trusts = QuorumTrust.objects.filter(idao=idao, active=True).select_related("quorum").order_by("quorum__name")
    return {
        "title": "Trusted quorums",
        "items": [
            {
                "label": t.quorum.name,
                "url": reverse("quorums:quorum_detail", args=[t.quorum_id]),
                "note": "validates this iDAO's contributions",
            }
            for t in trusts
        ],
        "empty": "No quorum is trusted yet; a passed trust_quorum proposal adds one.",
    }
