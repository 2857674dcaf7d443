"""Every contribution write: record an upload, route contributions through the VSC, follow
their rounds.

contributions sits downstream of quorums: it registers "contribution" as a subject kind
(contributions.subject), opens rounds through quorums.services and moves contribution states
from quorums' hooks, which run inside the verdicts' and the closing transactions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from idaos.selectors import idao_with_membership
from portal.errors import DomainError, NotFound
from portal.events import emit_many
from portal.sql import update_by_pk
from quorums import services as quorum_services
from quorums.models import Round, Verdict
from quorums.selectors import paused_trusted_quorums

from .errors import DuplicateContribution, InvalidContribution, NotAMember
from .models import Contribution, ContributionKind, ContributionState
from .subject import SUBJECT_KIND
from .uploads import (
    MIN_USEFUL_BYTES,
    ArchiveRefused,
    HashedUpload,
    inspect_archive,
    meaningful_bytes,
    sanitise_name,
    sniff,
    type_flags,
)

log = logging.getLogger(__name__)
ALLOWED_USES = ("training", "fine_tuning", "inference", "evaluation", "research", "commercial")
MAX_ATTEMPTS = 2  # an inconclusive round is re-routed once, then the contribution expires
WAITING = "Waiting: no quorum this iDAO trusts has enough bonded validators right now."


def waiting_reason(paused_quorums: list[str]) -> str:
    """Why an upload waits for a round: a paused trusted quorum says so by name."""
    if paused_quorums:
        names = ", ".join(paused_quorums[:3])
        return f"Waiting: the quorum this iDAO trusts ({names}) is paused by moderators; review resumes with it."[:200]
    return WAITING


def clean_usage_policy(raw: dict[str, Any]) -> dict[str, Any]:
    uses = raw.get("allowed_uses") or []
    if isinstance(uses, str):
        uses = [u.strip() for u in uses.split(",") if u.strip()]
    bad = [u for u in uses if u not in ALLOWED_USES]
    if bad or not uses:
        raise InvalidContribution(f"Allowed uses are one or more of: {', '.join(ALLOWED_USES)}.")
    policy: dict[str, Any] = {"allowed_uses": sorted(set(uses))}
    for key in ("price", "quota", "expiry_days"):
        value = raw.get(key)
        if value is None or value == "":
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidContribution(f"The usage policy's {key} is a whole number.") from None
        if number < 0:
            raise InvalidContribution(f"The usage policy's {key} cannot be negative.")
        policy[key] = number
    return policy


def contribution_create(
    *,
    idao_slug: str,
    owner: Any,
    upload: HashedUpload,
    kind: str,
    title: str,
    description: str = "",
    licence: str,
    usage_policy: dict[str, Any],
) -> Contribution:
    """Record a streamed upload as a contribution of an iDAO member and queue its routing.

    The staged file moves into storage under a generated name; the client's name is kept only as
    sanitised metadata. Any refusal deletes the staged file and writes nothing."""
    try:
        idao, member = idao_with_membership(slug=idao_slug, user=owner)
        if idao is None:
            raise NotFound(f"There is no iDAO {idao_slug!r}.", code="idao_not_found")
        if not member:
            raise NotAMember(f"Only active members of {idao.name} may contribute to it.")
        if kind not in ContributionKind.values:
            raise InvalidContribution(f"The kind is one of: {', '.join(ContributionKind.values)}.")
        title = (title or "").strip()
        licence = (licence or "").strip()
        if not title or len(title) > 200:
            raise InvalidContribution("Give the contribution a title (at most 200 characters).")
        if not licence or len(licence) > 80:
            raise InvalidContribution("Name the licence (for example CC-BY-4.0), at most 80 characters.")
        if len(description) > 5000:
            raise InvalidContribution("The description is at most 5000 characters.")
        policy = clean_usage_policy(usage_policy)
        if upload.size == 0:
            raise InvalidContribution("The file is empty.")
        sniffed = sniff(upload.head)
        flags = type_flags(name=upload.name or "", declared_type=upload.content_type or "", sniffed=sniffed)
        try:
            archive = inspect_archive(upload.temporary_file_path(), sniffed)
        except ArchiveRefused as exc:
            raise InvalidContribution(exc.detail, code=exc.code) from None
        if archive.get("unsafe_paths"):
            flags.append("archive_unsafe_paths")
        if meaningful_bytes(head=upload.head, size=upload.size) < MIN_USEFUL_BYTES:
            flags.append("too_small")
        with transaction.atomic():
            anchored = _accepted_locked(upload.sha256)
            if anchored is not None and anchored.owner_id == owner.pk:
                raise DuplicateContribution(
                    f"You already contributed this exact file: “{anchored.title}” (accepted on "
                    f"{anchored.updated_at:%Y-%m-%d})."
                )
            if anchored is not None:
                flags.append("duplicate_of_other_owner")
            storage_name = default_storage.generate_filename(f"contributions/{timezone.now():%Y/%m}/{_random_name()}")
            contribution = Contribution(
                idao=idao,
                owner=owner,
                kind=kind,
                title=title,
                description=description,
                licence=licence,
                usage_policy=policy,
                storage_name=storage_name,
                original_name=sanitise_name(upload.name or ""),
                size=upload.size,
                sha256=upload.sha256,
                keccak256=upload.keccak256,
                declared_type=(upload.content_type or "")[:100],
                sniffed_type=sniffed,
                flags=flags,
                archive=archive,
                duplicate_of=anchored,
            )
            saved_name = default_storage.save(storage_name, upload)
            try:
                contribution.storage_name = saved_name
                contribution.save()
            except Exception:
                default_storage.delete(saved_name)
                raise
            _enqueue_route(contribution.pk)
            return contribution
    finally:
        upload.discard()


def _accepted_locked(sha256: str) -> Contribution | None:
    """The earliest accepted contribution of these bytes, locked (FOR UPDATE), with the four
    columns contribution_create's duplicate checks read (others load on access). Plain SQL: the
    ORM's compilation of this query cost more than running it."""
    columns = ["id", "owner_id", "title", "updated_at"]
    # Only the model's own table and its fields' default column names are spliced in.
    sql = (
        f"SELECT {', '.join(columns)} FROM {connection.ops.quote_name(Contribution._meta.db_table)} "  # noqa: S608
        "WHERE sha256 = %s AND state = %s ORDER BY id LIMIT 1"
    )
    if connection.features.has_select_for_update:  # SQLite has no row locks (it serialises writers)
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [sha256, str(ContributionState.ACCEPTED)])
        row = cursor.fetchone()
    return None if row is None else Contribution.from_db(connection.alias, columns, row)


def _random_name() -> str:
    import secrets

    return secrets.token_hex(16)


def _enqueue_route(contribution_id: int) -> None:
    transaction.on_commit(lambda: _send_route(contribution_id))


ROUTE_BATCH = 100  # contributions one routing task opens rounds for, at most
ROUTE_PRIORITY = 3  # below the default 0 on the Redis broker (kombu serves 0 first, then 3, 6, 9)
# Set (in the cache) while a routing task is queued and has not started. It expires on its own,
# so a task the broker lost delays routing by at most this long (the quorums sweep routes any
# uploaded contribution, too); a task that sits longer in the queue only means one more task.
ROUTE_QUEUED_KEY = "contributions:route-queued"
ROUTE_QUEUED_SECONDS = 10


def _send_route(contribution_id: int) -> None:
    """After commit: queue a routing task, unless one is queued already and has not started.

    A routing task routes every uploaded contribution it finds (contributions_route_queued), and
    it clears the mark before it looks; so a contribution committed while the mark is set is
    found by the task that set it. A burst of uploads then costs one task, not one each."""
    from .tasks import contribution_route_task

    try:
        if not cache.add(ROUTE_QUEUED_KEY, contribution_id, ROUTE_QUEUED_SECONDS):
            return
    except Exception:  # no cache: queue one task per upload, as if none were queued
        log.warning("cannot read the routing mark; queueing a routing task", exc_info=True)
    try:
        # Routing is sent one priority step below the default (Redis: a higher number is served
        # later), so a worker closes the rounds that verdicts made decisive before it opens more
        # rounds; a burst of uploads then does not hold back the outcomes of rounds already decided.
        contribution_route_task.apply_async(args=[contribution_id], priority=ROUTE_PRIORITY)
    except Exception:
        _clear_route_mark()  # nothing is queued: the next upload must queue a task
        raise


def _clear_route_mark() -> None:
    try:
        cache.delete(ROUTE_QUEUED_KEY)
    except Exception:  # the mark expires on its own
        log.warning("cannot clear the routing mark", exc_info=True)


def contributions_route(*, contribution_ids: Sequence[int]) -> list[Contribution]:
    """The VSC step, in one transaction: open a round for each of these contributions still
    `uploaded`, at its iDAO's least busy trusted quorum (quorums.services.rounds_open), or leave
    it visibly waiting (the sweep retries). Rows are locked in id order. Safe to run twice.
    Returns the contributions found, as they now are (NotFound when none is)."""
    with transaction.atomic():
        found = list(Contribution.objects.select_for_update().filter(pk__in=list(contribution_ids)).order_by("pk"))
        if not found:
            raise NotFound(f"There is no contribution {', '.join(map(str, contribution_ids))}.")
        _route_locked([c for c in found if c.state == ContributionState.UPLOADED])
        return found


def contribution_route(*, contribution_id: int) -> Contribution:
    """contributions_route for one contribution."""
    return contributions_route(contribution_ids=[contribution_id])[0]


def _route_locked(todo: list[Contribution]) -> int:
    """Inside a transaction, with the rows locked: open the rounds, record the routed and the
    waiting. Returns how many were routed."""
    if not todo:
        return 0
    rounds = quorum_services.rounds_open(
        subjects=[
            {
                "idao_id": c.idao_id,
                "subject_kind": SUBJECT_KIND,
                "subject_ref": str(c.pk),
                "content_hash": c.sha256,
                "attempt": c.attempts + 1,
            }
            for c in todo
        ]
    )
    now = timezone.now()
    routed: list[tuple[Contribution, Any]] = []
    waiting: dict[str, list[int]] = {}
    paused: dict[int, list[str]] | None = None
    for c, r in zip(todo, rounds, strict=True):
        if r is None:
            if paused is None:
                paused = paused_trusted_quorums(idao_ids={c.idao_id for c in todo})
            reason = waiting_reason(paused.get(c.idao_id, []))
            if c.waiting_reason != reason:
                waiting.setdefault(reason, []).append(c.pk)
            c.waiting_reason = reason
            continue
        c.state, c.round, c.attempts, c.waiting_reason, c.updated_at = (
            ContributionState.ROUTED,
            r,
            c.attempts + 1,
            "",
            now,
        )
        routed.append((c, r))
    for reason, pks in waiting.items():
        Contribution.objects.filter(pk__in=pks).update(waiting_reason=reason)
    update_by_pk(
        Contribution,
        {c.pk: {"round": r.pk, "attempts": c.attempts} for c, r in routed},
        state=ContributionState.ROUTED,
        waiting_reason="",
        updated_at=now,
    )
    emit_many(
        [
            dict(
                kind="contribution.routed",
                idao=c.idao_id,
                subject=f"contribution:{c.pk}",
                recipients=[c.owner_id],
                payload={
                    "title": c.title,
                    "round": r.pk,
                    "deadline": r.deadline.isoformat(),
                    "url": "/contributions/mine",
                },
            )
            for c, r in routed
        ]
    )
    return len(routed)


def contributions_route_queued(*, contribution_id: int, limit: int = ROUTE_BATCH) -> int:
    """The routing task's work: route this contribution and, in the same transaction, up to
    `limit - 1` other uploaded contributions that are not waiting for a quorum (uploads made while
    this task was queued sent no task of their own: _send_route). Others' rows are taken with SKIP
    LOCKED, so concurrent workers split the queue instead of queueing on each other. A full batch
    queues the next one. If the batch fails, each of its contributions is routed on its own, and
    the first failure is raised (the task retries). Returns how many were routed."""
    _clear_route_mark()  # before looking: an upload committed from now on queues its own task
    # One query for the common case, a delivery whose contribution a batch already routed.
    seen = list(
        Contribution.objects.filter(Q(pk=contribution_id) | Q(state=ContributionState.UPLOADED, waiting_reason=""))
        .order_by()
        .values_list("pk", "state")[:2]
    )
    if not any(state == ContributionState.UPLOADED for _, state in seen):
        if not seen:
            raise NotFound(f"There is no contribution {contribution_id}.")
        return 0
    batch = [contribution_id]
    try:
        with transaction.atomic():
            own = Contribution.objects.select_for_update().filter(pk=contribution_id).first()
            if own is None:
                raise NotFound(f"There is no contribution {contribution_id}.")
            room = max(0, limit - 1)
            others = list(
                Contribution.objects.select_for_update(skip_locked=True)
                .filter(state=ContributionState.UPLOADED, waiting_reason="")
                .exclude(pk=contribution_id)
                .order_by("pk")[: room + 1]  # one more than there is room for: is more queued?
            )
            if len(others) > room:
                others = others[:room]
                _enqueue_route(contribution_id)  # the next batch, after this one commits
            batch += [c.pk for c in others]
            return _route_locked(([own] if own.state == ContributionState.UPLOADED else []) + others)
    except (DomainError, IntegrityError) as exc:
        log.warning("routing contributions %s together failed (%s); routing each alone", batch, exc)
    routed, failure = 0, None
    for pk in batch:
        try:
            routed += int(contribution_route(contribution_id=pk).state != ContributionState.UPLOADED)
        except (DomainError, IntegrityError) as exc:  # raised below, once the others are routed
            failure = failure or exc
    if failure is not None:
        raise failure
    return routed


def contributions_route_waiting(limit: int = 200) -> int:
    """The quorums sweep hook: try again to route contributions still waiting for a quorum, in
    batches of ROUTE_BATCH (each one transaction). Returns how many were routed."""
    routed = 0
    pks = list(
        Contribution.objects.filter(state=ContributionState.UPLOADED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for start in range(0, len(pks), ROUTE_BATCH):
        batch = pks[start : start + ROUTE_BATCH]
        try:
            found = contributions_route(contribution_ids=batch)
        except DomainError as exc:
            log.info("contributions %s not routed: %s", batch, exc.detail)
            continue
        routed += sum(c.state != ContributionState.UPLOADED for c in found)
    return routed


# --- quorums hooks (run inside quorums' transactions) ------------------------------------------


def on_verdicts(rounds: Sequence[Round]) -> None:
    """quorums hook (inside the verdicts' transaction): a first verdict puts the contribution in review."""
    ids = [r.pk for r in rounds if r.subject_kind == SUBJECT_KIND]
    if ids:
        Contribution.objects.filter(round_id__in=ids, state=ContributionState.ROUTED).update(
            state=ContributionState.IN_REVIEW, updated_at=timezone.now()
        )


def on_appeals_decided(appeals: Sequence[Any]) -> None:
    """quorums hook (inside the closing transaction): a contribution whose rejection an appeal
    overturned is accepted, and follows its latest round (the panel's); the DAT is minted by the
    panel round's accepted hook."""
    overturned = {
        int(a.appeal_round.subject_ref): a.appeal_round_id
        for a in appeals
        if a.state == "overturned" and a.appeal_round.subject_kind == SUBJECT_KIND
    }
    now = timezone.now()
    for pk, round_id in sorted(overturned.items()):
        Contribution.objects.filter(pk=pk).update(state=ContributionState.ACCEPTED, round_id=round_id, updated_at=now)


def on_rounds_closed(rounds: Sequence[Round]) -> None:
    """quorums hook (inside the closing transaction): the contributions of the closed rounds take
    their outcome; an inconclusive first attempt goes back to `uploaded` and is routed again."""
    outcome = {r.pk: r.outcome for r in rounds if r.subject_kind == SUBJECT_KIND}
    if not outcome:
        return
    moves: dict[str, list[int]] = {}
    reroute: list[int] = []
    open_states = (ContributionState.ROUTED, ContributionState.IN_REVIEW)
    for pk, round_id, state, attempts in (
        Contribution.objects.select_for_update()
        .filter(round_id__in=list(outcome))
        .order_by("pk")
        .values_list("pk", "round_id", "state", "attempts")
    ):
        if state not in open_states:
            continue
        result = outcome[round_id]
        if result == "inconclusive":
            if attempts < MAX_ATTEMPTS:
                moves.setdefault(ContributionState.UPLOADED, []).append(pk)
                reroute.append(pk)
                continue
            target = ContributionState.EXPIRED
        else:
            target = ContributionState.ACCEPTED if result == "accepted" else ContributionState.REJECTED
        moves.setdefault(target, []).append(pk)
    now = timezone.now()
    for state, pks in moves.items():
        Contribution.objects.filter(pk__in=pks).update(state=state, updated_at=now)
    rejected = list(
        Contribution.objects.filter(pk__in=moves.get(ContributionState.REJECTED, [])).values_list(
            "pk", "idao_id", "owner_id", "title", "round_id", "round__tally"
        )
    )
    reasons: dict[int, list[tuple[str, str]]] = {}
    if rejected:  # every rejected round's reasons in one query, in verdict order
        for round_id, verdict, reason in (
            Verdict.objects.filter(round_id__in=[row[4] for row in rejected])
            .exclude(reason="")
            .values_list("round_id", "verdict", "reason")
        ):
            reasons.setdefault(round_id, []).append((verdict, reason))
    emit_many(
        [
            dict(
                kind="contribution.rejected",
                idao=i,
                subject=f"contribution:{pk}",
                recipients=[o],
                payload={
                    "title": t,
                    "round": r,
                    "reasons": reasons.get(r, []),
                    "tally": tally,  # the round's verdict breakdown
                    "url": "/contributions/mine",
                },
            )
            for pk, i, o, t, r, tally in rejected
        ]
    )
    for pk in reroute:
        _enqueue_route(pk)
