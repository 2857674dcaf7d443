"""Usage metering: pipelines report how much of a model or agent version they used.

Each event is accepted once per (reporter, idempotency key): the database's unique constraint
with INSERT … ON CONFLICT DO NOTHING decides, so retries and concurrent duplicates count once.
The ledger's rule for keys: a key sent again with the same event (asset version, kind, units,
occurred_at) is a duplicate, skipped; with a different event the whole report is refused with
`idempotency_key_reused` (409), naming the event.
An accepted event is charged its CREDIT fee (one ledger transfer per report, into the reward
pool) and counts in the epoch that is open when the report commits."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils.dateparse import parse_datetime

from idaos.models import IDAO, AgentVersion, Membership, MembershipStatus, ModelVersion
from idaos.selectors import is_steward
from ledger import owners
from ledger import services as ledger_services
from ledger.errors import IdempotencyKeyReused
from portal.errors import Forbidden
from portal.models import ApiToken, User

from .. import conf, sql
from ..errors import InvalidUsage, NotAllowedToReport, UnknownAsset
from ..models import UsageEvent, UsageKind, UsageReport
from .epochs import epoch_lock_for_usage

_KEY_RE = re.compile(r"^[!-~]{1,100}$")


@dataclass(frozen=True)
class Event:
    index: int
    model_id: int | None
    agent_id: int | None
    version: int
    kind: str
    units: int
    occurred_at: datetime
    idempotency_key: str


@dataclass(frozen=True)
class ReportResult:
    report_id: int
    epoch: int
    received: int
    accepted: int
    fee_credit: int
    fee_tx_id: int | None

    @property
    def duplicates(self) -> int:
        return self.received - self.accepted


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _bad(index: int, field: str, sentence: str, code: str = "invalid_usage") -> InvalidUsage:
    return InvalidUsage(f"events[{index}].{field}: {sentence}", code=code)


def usage_parse(items: Any, *, now: datetime) -> list[Event]:
    """Validate raw JSON events; the first problem is raised with its index."""
    if not isinstance(items, list) or not items:
        raise InvalidUsage('Send one event object or {"events": [...]} with at least one event.')
    if len(items) > conf.max_batch():
        raise InvalidUsage(
            f"A report holds at most {conf.max_batch():,} events; this one has {len(items):,}.", code="batch_too_large"
        )
    max_age, max_future, max_units = conf.max_age_seconds(), conf.max_future_seconds(), conf.max_units()
    oldest, newest = now - timedelta(seconds=max_age), now + timedelta(seconds=max_future)
    kinds = set(UsageKind.values)
    parsed: dict[str, datetime | None] = {}  # a batch usually repeats a few timestamps
    events = []
    for i, item in enumerate(items):
        if type(item) is not dict:
            raise InvalidUsage(f"events[{i}] must be an object.")
        raw_model, raw_agent = item.get("model_id"), item.get("agent_id")
        if (raw_model is None) == (raw_agent is None):
            raise _bad(i, "model_id", "give exactly one of model_id and agent_id.")
        model_id, agent_id = _int(raw_model), _int(raw_agent)
        if (raw_model is not None and model_id is None) or (raw_agent is not None and agent_id is None):
            raise _bad(i, "model_id" if agent_id is None else "agent_id", "must be an integer id.")
        version = _int(item.get("version"))
        if version is None or version < 1:
            raise _bad(i, "version", "must be a version number (an integer from 1).")
        kind = item.get("kind")
        if type(kind) is not str or kind not in kinds:
            raise _bad(i, "kind", f"must be one of {', '.join(UsageKind.values)}; got {kind!r}.")
        units = _int(item.get("units"))
        if units is None:
            raise _bad(i, "units", f"must be an integer; got {item.get('units')!r}.")
        if units <= 0:
            raise _bad(i, "units", f"must be positive; got {units}.")
        if units > max_units:
            raise _bad(
                i,
                "units",
                f"{units:,} is more than one event may report ({max_units:,}); split it.",
                "absurd_units",
            )
        raw_when = item.get("occurred_at")
        if type(raw_when) is str:
            when = parsed[raw_when] if raw_when in parsed else parsed.setdefault(raw_when, parse_datetime(raw_when))
        else:
            when = None
        if when is None or when.tzinfo is None:
            raise _bad(i, "occurred_at", "must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z.")
        if when > newest:
            raise _bad(
                i, "occurred_at", f"{raw_when} is in the future (allowed skew {max_future} s).", "event_in_future"
            )
        if when < oldest:
            raise _bad(i, "occurred_at", f"{raw_when} is older than {max_age // 3600} hours.", "event_too_old")
        key = item.get("idempotency_key")
        if type(key) is not str or not _KEY_RE.match(key):
            raise _bad(i, "idempotency_key", "must be 1 to 100 printable ASCII characters without spaces.")
        events.append(Event(i, model_id, agent_id, version, kind, units, when, key))
    return events


def _resolve(events: list[Event]) -> dict[int, tuple[int, int | None, int | None]]:
    """index -> (iDAO id, model version id, agent version id); the first unknown asset raises."""
    model_ids = {e.model_id for e in events if e.model_id is not None}
    agent_ids = {e.agent_id for e in events if e.agent_id is not None}
    models = {
        (m, n): (pk, idao)
        for pk, m, n, idao in ModelVersion.objects.filter(model_id__in=model_ids).values_list(
            "pk", "model_id", "number", "model__idao_id"
        )
    }
    agents: dict[tuple[int | None, int], tuple[int, int]] = {
        (a, n): (pk, idao)
        for pk, a, n, idao in AgentVersion.objects.filter(agent_id__in=agent_ids).values_list(
            "pk", "agent_id", "number", "agent__idao_id"
        )
    }
    resolved: dict[int, tuple[int, int | None, int | None]] = {}
    for e in events:
        if e.model_id is not None:
            found = models.get((e.model_id, e.version))
            if found is None:
                raise UnknownAsset(f"events[{e.index}]: there is no model {e.model_id} with version {e.version}.")
            resolved[e.index] = (found[1], found[0], None)
        else:
            found = agents.get((e.agent_id, e.version))
            if found is None:
                raise UnknownAsset(f"events[{e.index}]: there is no agent {e.agent_id} with version {e.version}.")
            resolved[e.index] = (found[1], None, found[0])
    return resolved


def _reporting_scope(user: User, token: ApiToken | None) -> tuple[set[int], str]:
    """The iDAOs this caller may report for, and the ledger owner that pays the fees. A token
    needs the `usage:report` scope (checked by the operation's auth); one acting for an iDAO pays from its treasury while its
    creator is still a steward there (as for DAT access fees)."""
    subject = token.subject if token is not None else ""
    if subject.startswith("idao:"):
        idao = IDAO.objects.filter(slug=subject.removeprefix("idao:")).first()
        if idao is None or not is_steward(idao=idao, user=user):
            raise Forbidden(
                f"This token acts for {subject}, and its creator is no longer a steward there.",
                code="token_subject_forbidden",
            )
        return {idao.pk}, owners.idao(idao.slug)
    member_of = set(
        Membership.objects.filter(user=user, status=MembershipStatus.ACTIVE).values_list("idao_id", flat=True)
    )
    return member_of, owners.user(user.address)


Fingerprint = tuple[int | None, int | None, str, int, datetime]


def _fingerprints(
    events: list[Event], resolved: dict[int, tuple[int, int | None, int | None]]
) -> dict[str, tuple[int, Fingerprint]]:
    """key -> (first index, what the event says); a key repeated in the batch for another event raises."""
    wanted: dict[str, tuple[int, Fingerprint]] = {}
    for e in events:
        fingerprint = (resolved[e.index][1], resolved[e.index][2], e.kind, e.units, e.occurred_at)
        first = wanted.setdefault(e.idempotency_key, (e.index, fingerprint))
        if first[1] != fingerprint:
            raise IdempotencyKeyReused(
                f"events[{e.index}].idempotency_key: events[{first[0]}] of this report uses the same key for "
                "a different event; use one key per event."
            )
    return wanted


def _check_replays(*, user: User, report_id: int, wanted: dict[str, tuple[int, Fingerprint]]) -> None:
    earlier = (
        UsageEvent.objects.filter(reporter=user, idempotency_key__in=list(wanted))
        .exclude(report_id=report_id)
        .values_list("idempotency_key", "model_version_id", "agent_version_id", "kind", "units", "occurred_at")
    )
    for key, *fingerprint in earlier.iterator(chunk_size=2000):
        index, expected = wanted[key]
        if tuple(fingerprint) != expected:
            raise IdempotencyKeyReused(
                f"events[{index}].idempotency_key: {key!r} was already accepted from you for a different event "
                "(asset version, kind, units or occurred_at); use a new key per event."
            )


def epoch_usage_add(*, report_id: int) -> None:
    """Add a report's accepted events to its epoch's usage per asset version (inside the
    report's transaction; set-based, one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.USAGE_ADD, [report_id])


# One statement inserts the report's events (a JSON array of rows, expanded by PostgreSQL: no
# Python object per event) and returns how many were new and their fees; the second adds those to
# the epoch's usage. Both travel in one round trip.
_INSERT_EVENTS = (
    "WITH added AS (INSERT INTO rewards_usageevent (reporter_id, report_id, epoch_id, idempotency_key, idao_id,"
    " model_version_id, agent_version_id, kind, units, weighted, fee, occurred_at)"
    " SELECT %s, %s, %s, e.k, e.i, e.m, e.a, e.kind, e.u, e.w, e.f, e.t FROM json_to_recordset(%s::json)"
    " AS e(k text, i bigint, m bigint, a bigint, kind text, u bigint, w bigint, f bigint, t timestamptz)"
    " ON CONFLICT (reporter_id, idempotency_key) DO NOTHING RETURNING fee)"
    " SELECT COUNT(*), COALESCE(SUM(fee), 0) FROM added;\n"
)


def _insert_events(
    *,
    report: UsageReport,
    events: list[Event],
    resolved: dict[int, tuple[int, int | None, int | None]],
    weights: dict[str, int],
    fees: dict[str, int],
) -> tuple[int, int]:
    """Insert the events no earlier report of this reporter holds (the unique index decides) and
    add them to the epoch's usage; return (events accepted, their fee)."""
    if connection.vendor == "postgresql":
        rows = json.dumps(
            [
                {
                    "k": e.idempotency_key,
                    "i": resolved[e.index][0],
                    "m": resolved[e.index][1],
                    "a": resolved[e.index][2],
                    "kind": e.kind,
                    "u": e.units,
                    "w": e.units * weights[e.kind],
                    "f": e.units * fees[e.kind],
                    "t": e.occurred_at.isoformat(),
                }
                for e in events
            ],
            separators=(",", ":"),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_EVENTS + sql.USAGE_ADD,
                [report.reporter_id, report.pk, report.epoch_id, rows, report.pk],
            )
            accepted, fee = cursor.fetchone()
        return int(accepted), int(fee)
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                reporter_id=report.reporter_id,
                idempotency_key=e.idempotency_key,
                report=report,
                epoch_id=report.epoch_id,
                idao_id=resolved[e.index][0],
                model_version_id=resolved[e.index][1],
                agent_version_id=resolved[e.index][2],
                kind=e.kind,
                units=e.units,
                weighted=e.units * weights[e.kind],
                fee=e.units * fees[e.kind],
                occurred_at=e.occurred_at,
            )
            for e in events
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    epoch_usage_add(report_id=report.pk)
    totals = UsageEvent.objects.filter(report=report).aggregate(n=Count("id"), fee=Sum("fee"))
    return int(totals["n"]), int(totals["fee"] or 0)


def usage_report(*, user: User, token: ApiToken | None, items: Any, now: datetime) -> ReportResult:
    """Record a report of usage events; repeated idempotency keys are skipped, the fee for the
    newly accepted ones is charged to the payer in CREDIT. All or nothing."""
    events = usage_parse(items, now=now)
    resolved = _resolve(events)
    allowed, payer = _reporting_scope(user, token)
    for e in events:
        if resolved[e.index][0] not in allowed:
            raise NotAllowedToReport(
                f"events[{e.index}]: you may report usage only for models and agents of iDAOs you are an active member of"
                " (or with a token acting for that iDAO)."
            )
    weights, fees = conf.kind_weights(), conf.fee_per_unit()
    wanted = _fingerprints(events, resolved)
    with transaction.atomic():
        epoch = epoch_lock_for_usage(now=now)
        report = UsageReport.objects.create(reporter=user, token=token, payer=payer, epoch=epoch, received=len(events))
        accepted, fee_total = _insert_events(
            report=report, events=events, resolved=resolved, weights=weights, fees=fees
        )
        if accepted < len(events):
            # Some keys were taken (now committed, the unique index waited for them): each must be
            # the same event, or the report rolls back.
            _check_replays(user=user, report_id=report.pk, wanted=wanted)
        report.accepted, report.fee = accepted, fee_total
        if report.fee > 0:
            fee = ledger_services.TransferIn(
                source=payer,
                destination=owners.REWARD_POOL,
                asset="CREDIT",
                amount=int(report.fee),
                kind="fee",
                idempotency_key=f"rewards:usage-fee:{report.pk}",
                memo=f"Usage fees of report {report.pk}",
            )
            fee_tx = ledger_services.transfers_post(transfers=[fee])[0].transaction
            if fee_tx is None:  # atomic transfers_post raises the first refusal
                raise RuntimeError(f"usage report {report.pk}: the fee was not posted")
            report.fee_tx_id = fee_tx.pk
        report.save(update_fields=["accepted", "fee", "fee_tx_id"])
    return ReportResult(report.pk, epoch.number, len(events), report.accepted, int(report.fee), report.fee_tx_id)
