"""Usage metering: pipelines report how much of a model or agent version they used.

Each event is accepted once per (reporter, idempotency key): the database's unique constraint
with INSERT … ON CONFLICT DO NOTHING decides, so retries and concurrent duplicates count once.
The ledger's rule for keys: a key sent again with the same event (asset version, kind, units,
occurred_at) is a duplicate, skipped; with a different event the whole report is refused with
`idempotency_key_reused` (409), naming the event.
An accepted event is charged its CREDIT fee (one ledger transfer per report, into the reward
pool) and counts in the epoch that is open when the report commits."""

from __future__ import annotations

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

USAGE_SCOPE = "usage:report"
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
    oldest, newest = now - timedelta(seconds=conf.max_age_seconds()), now + timedelta(seconds=conf.max_future_seconds())
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidUsage(f"events[{i}] must be an object.")
        model_id, agent_id = _int(item.get("model_id")), _int(item.get("agent_id"))
        if (item.get("model_id") is None) == (item.get("agent_id") is None):
            raise _bad(i, "model_id", "give exactly one of model_id and agent_id.")
        if (item.get("model_id") is not None and model_id is None) or (
            item.get("agent_id") is not None and agent_id is None
        ):
            raise _bad(i, "model_id" if agent_id is None else "agent_id", "must be an integer id.")
        version = _int(item.get("version"))
        if version is None or version < 1:
            raise _bad(i, "version", "must be a version number (an integer from 1).")
        kind = item.get("kind")
        if kind not in UsageKind.values:
            raise _bad(i, "kind", f"must be one of {', '.join(UsageKind.values)}; got {kind!r}.")
        units = _int(item.get("units"))
        if units is None:
            raise _bad(i, "units", f"must be an integer; got {item.get('units')!r}.")
        if units <= 0:
            raise _bad(i, "units", f"must be positive; got {units}.")
        if units > conf.max_units():
            raise _bad(
                i,
                "units",
                f"{units:,} is more than one event may report ({conf.max_units():,}); split it.",
                "absurd_units",
            )
        raw_when = item.get("occurred_at")
        when = parse_datetime(raw_when) if isinstance(raw_when, str) else None
        if when is None or when.tzinfo is None:
            raise _bad(i, "occurred_at", "must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z.")
        if when > newest:
            raise _bad(
                i,
                "occurred_at",
                f"{raw_when} is in the future (allowed skew {conf.max_future_seconds()} s).",
                "event_in_future",
            )
        if when < oldest:
            raise _bad(
                i, "occurred_at", f"{raw_when} is older than {conf.max_age_seconds() // 3600} hours.", "event_too_old"
            )
        key = item.get("idempotency_key")
        if not isinstance(key, str) or not _KEY_RE.match(key):
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
    agents = {
        (a, n): (pk, idao)
        for pk, a, n, idao in AgentVersion.objects.filter(agent_id__in=agent_ids).values_list(
            "pk", "agent_id", "number", "agent__idao_id"
        )
    }
    resolved = {}
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
    needs the `usage:report` scope; one acting for an iDAO pays from its treasury while its
    creator is still a steward there (as for DAT access fees)."""
    if token is not None and USAGE_SCOPE not in (token.scopes or []):
        raise Forbidden(f"This token lacks the {USAGE_SCOPE} scope.", code="token_scope")
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
        UsageEvent.objects.bulk_create(
            [
                UsageEvent(
                    reporter=user,
                    idempotency_key=e.idempotency_key,
                    report=report,
                    epoch=epoch,
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
        if totals["n"] < len(events):
            # Some keys were taken (now committed, the unique index waited for them): each must be
            # the same event, or the report rolls back.
            _check_replays(user=user, report_id=report.pk, wanted=wanted)
        report.accepted, report.fee = totals["n"], int(totals["fee"] or 0)
        if report.fee > 0:
            report.fee_tx_id = ledger_services.transfer(
                source=payer,
                destination=owners.REWARD_POOL,
                asset="CREDIT",
                amount=int(report.fee),
                kind="fee",
                idempotency_key=f"rewards:usage-fee:{report.pk}",
                memo=f"Usage fees of report {report.pk}",
            ).pk
        report.save(update_fields=["accepted", "fee", "fee_tx_id"])
    return ReportResult(report.pk, epoch.number, len(events), report.accepted, int(report.fee), report.fee_tx_id)
