"""Every write of the notifications app: fan-out of outbox events, the inbox, preferences,
email addresses and webhooks. Fan-out is idempotent by construction: each row it writes has a
unique key ((event, recipient, channel) or (event, webhook)) and is inserted ON CONFLICT DO
NOTHING; sending claims a row with a conditional UPDATE, so a twice-delivered task sends once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core import signing
from django.db import connection, transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat, Now
from django.utils import timezone

from idaos.models import IDAO
from idaos.services.membership import steward_require
from portal.errors import DomainError, NotFound
from portal.events import emit
from portal.models import Event, User

from . import kinds, webhooks
from .models import Channel, EmailAddress, Notification, Preference, Reminder, Webhook, WebhookAttempt, WebhookDelivery

CHUNK = 200  # deliveries per enqueued task
VERIFY_SALT = "notifications.email.verify"
UNSUBSCRIBE_SALT = "notifications.email.unsubscribe"
VERIFY_MAX_AGE = 3 * 24 * 3600


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


class UnknownEventKind(DomainError):
    code = "unknown_event_kind"
    status = 422


class BadToken(DomainError):
    code = "bad_link_token"
    status = 400


# --- fan-out -----------------------------------------------------------------------------------


def fanout_enqueue(event_ids: list[int]) -> None:
    """portal.events hook (runs after the emitting transaction committed): one task per event."""
    from .tasks import fanout

    for chunk in _chunks(event_ids):
        fanout.delay(chunk)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


INSERT_INAPP = """
INSERT INTO notifications_notification (event_id, recipient_id, channel, status, created_at, sent_at)
SELECT %(event)s, uid, 'inapp', 'sent', %(now)s, %(now)s FROM unnest(%(users)s::bigint[]) AS uid
WHERE NOT EXISTS (SELECT 1 FROM notifications_preference p
                  WHERE p.user_id = uid AND p.kind = %(kind)s AND p.channel = 'inapp' AND NOT p.enabled)
ON CONFLICT DO NOTHING"""

INSERT_EMAIL = """
INSERT INTO notifications_notification (event_id, recipient_id, channel, status, created_at)
SELECT %(event)s, e.user_id, 'email', CASE WHEN e.digest = 'daily' THEN 'digest' ELSE 'pending' END, %(now)s
FROM notifications_emailaddress e
WHERE e.user_id = ANY(%(users)s::bigint[]) AND e.verified_at IS NOT NULL AND e.unsubscribed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM notifications_preference p
                  WHERE p.user_id = e.user_id AND p.kind = %(kind)s AND p.channel = 'email' AND NOT p.enabled)
ON CONFLICT DO NOTHING"""

INSERT_WEBHOOKS = """
INSERT INTO notifications_webhookdelivery (event_id, webhook_id, status, attempts, created_at)
SELECT %(event)s, w.id, 'pending', 0, %(now)s FROM notifications_webhook w
WHERE w.active AND ((w.idao_id IS NULL AND w.owner_id = ANY(%(users)s::bigint[])) OR w.idao_id = %(idao)s)
  AND (w.kinds = '[]'::jsonb OR w.kinds ? %(kind)s)
ON CONFLICT DO NOTHING"""


def _write_deliveries_sql(event: Event, user_ids: list[int], now: datetime) -> None:
    """PostgreSQL: three set-based INSERTs (the same rows as _write_deliveries_orm)."""
    params: dict[str, Any] = {
        "event": event.pk,
        "now": now,
        "users": user_ids,
        "kind": event.kind,
        "idao": event.idao_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_INAPP, params)
        cursor.execute(INSERT_EMAIL, params)
        if event.kind == "webhook.test":
            _write_webhooks_orm(event, [], now)
        else:
            cursor.execute(INSERT_WEBHOOKS, params)


def _write_webhooks_orm(event: Event, user_ids: list[int], now: datetime) -> None:
    if event.kind == "webhook.test":
        hooks = Webhook.objects.filter(pk=int((event.payload or {}).get("webhook") or 0))
    else:
        scope = Q(idao__isnull=True, owner_id__in=user_ids)
        if event.idao_id is not None:
            scope |= Q(idao_id=event.idao_id)
        hooks = Webhook.objects.filter(scope, active=True)
    targets = [hook_id for hook_id, listed in hooks.values_list("id", "kinds") if not listed or event.kind in listed]
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event_id=event.pk, webhook_id=h, created_at=now) for h in targets],
        batch_size=5000,
        ignore_conflicts=True,
    )


def _write_deliveries_orm(event: Event, user_ids: list[int], now: datetime) -> None:
    """The readable rule (and the path on databases other than PostgreSQL)."""
    disabled = set(
        Preference.objects.filter(user_id__in=user_ids, kind=event.kind, enabled=False).values_list(
            "user_id", "channel"
        )
    )
    inapp = [
        Notification(event_id=event.pk, recipient_id=uid, channel=Channel.INAPP, sent_at=now, created_at=now)
        for uid in user_ids
        if (uid, Channel.INAPP) not in disabled
    ]
    Notification.objects.bulk_create(inapp, batch_size=5000, ignore_conflicts=True)
    emails = [
        Notification(
            event_id=event.pk,
            recipient_id=uid,
            channel=Channel.EMAIL,
            created_at=now,
            status=Notification.Status.DIGEST if digest == EmailAddress.Digest.DAILY else Notification.Status.PENDING,
        )
        for uid, digest in EmailAddress.objects.filter(
            user_id__in=user_ids, verified_at__isnull=False, unsubscribed_at__isnull=True
        ).values_list("user_id", "digest")
        if (uid, Channel.EMAIL) not in disabled
    ]
    Notification.objects.bulk_create(emails, batch_size=5000, ignore_conflicts=True)
    _write_webhooks_orm(event, user_ids, now)


def event_fanout(*, event_id: int, now: datetime | None = None, sql: bool | None = None) -> dict[str, int]:
    """Write the event's in-app, email and webhook deliveries (once each) and enqueue the sends."""
    now = now or timezone.now()
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return {}
    user_ids = kinds.resolve_recipients(event)
    if sql if sql is not None else connection.vendor == "postgresql":
        _write_deliveries_sql(event, user_ids, now)
    else:
        _write_deliveries_orm(event, user_ids, now)
    Event.objects.filter(pk=event.pk, fanned_out_at__isnull=True).update(fanned_out_at=now)
    pending_email = list(
        Notification.objects.filter(
            event_id=event.pk, channel=Channel.EMAIL, status=Notification.Status.PENDING
        ).values_list("id", flat=True)
    )
    pending_hooks = list(
        WebhookDelivery.objects.filter(event_id=event.pk, status=WebhookDelivery.Status.PENDING).values_list(
            "id", flat=True
        )
    )
    from .tasks import email_send, webhook_deliver

    for chunk in _chunks(pending_email):
        email_send.delay(chunk)
    for chunk in _chunks(pending_hooks):
        webhook_deliver.delay(chunk)
    return {"recipients": len(user_ids), "email": len(pending_email), "webhooks": len(pending_hooks)}


# --- inbox ---------------------------------------------------------------------------------------


def notifications_mark_read(*, user: User, ids: Sequence[int] | None = None, now: datetime | None = None) -> int:
    """Mark some (or, with ids=None, all) of your in-app notifications read; the count changed."""
    rows = Notification.objects.filter(recipient=user, channel=Channel.INAPP, read_at__isnull=True)
    if ids is not None:
        if not Notification.objects.filter(recipient=user, channel=Channel.INAPP, pk__in=ids).count() == len(set(ids)):
            raise NotificationNotFound("No such notification in your inbox.")
        rows = rows.filter(pk__in=ids)
    return rows.update(read_at=now or timezone.now())


# --- preferences ---------------------------------------------------------------------------------


def preferences_set(*, user: User, items: Iterable[tuple[str, str, bool]]) -> None:
    items = list(items)
    for kind, channel, _enabled in items:
        if kind not in kinds.KINDS:
            raise UnknownEventKind(f"{kind!r} is not an event kind.")
        if channel not in Channel.values:
            raise UnknownEventKind(f"{channel!r} is not a channel (inapp or email).")
    with transaction.atomic():
        for kind, channel, enabled in items:
            Preference.objects.update_or_create(user=user, kind=kind, channel=channel, defaults={"enabled": enabled})


# --- email ---------------------------------------------------------------------------------------


def email_set(*, user: User, address: str, digest: str = EmailAddress.Digest.INSTANT) -> EmailAddress:
    """Set (or change) your address; it receives nothing until the emailed link is followed."""
    if digest not in EmailAddress.Digest.values:
        raise DomainError("digest is instant or daily.", code="invalid_input", status=422)
    with transaction.atomic():
        current = EmailAddress.objects.select_for_update().filter(user=user).first()
        if current is not None and current.address == address:
            current.digest = digest
            current.save(update_fields=["digest"])
            return current
        record, _ = EmailAddress.objects.update_or_create(
            user=user, defaults={"address": address, "verified_at": None, "digest": digest, "unsubscribed_at": None}
        )
        from .tasks import email_send_verification

        transaction.on_commit(lambda: email_send_verification.delay(record.pk))
    return record


def verify_token(record: EmailAddress) -> str:
    return signing.dumps({"u": record.user_id, "a": record.address}, salt=VERIFY_SALT)


def unsubscribe_token(record: EmailAddress) -> str:
    return signing.dumps({"u": record.user_id, "a": record.address}, salt=UNSUBSCRIBE_SALT)


def _load(token: str, salt: str, max_age: int | None = None) -> EmailAddress:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature as exc:
        raise BadToken("This link is not valid (or has expired).") from exc
    record = EmailAddress.objects.filter(user_id=data.get("u"), address=data.get("a")).first()
    if record is None:
        raise BadToken("This link is for an address that is no longer set.")
    return record


def email_verify(*, token: str, now: datetime | None = None) -> EmailAddress:
    record = _load(token, VERIFY_SALT, VERIFY_MAX_AGE)
    EmailAddress.objects.filter(pk=record.pk, verified_at__isnull=True).update(verified_at=now or timezone.now())
    record.refresh_from_db()
    return record


def email_unsubscribe(*, token: str, now: datetime | None = None) -> EmailAddress:
    """One-click unsubscribe (RFC 8058): no more email until the person subscribes again."""
    record = _load(token, UNSUBSCRIBE_SALT)
    EmailAddress.objects.filter(pk=record.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now or timezone.now()
    )
    Notification.objects.filter(
        recipient_id=record.user_id,
        channel=Channel.EMAIL,
        status__in=[Notification.Status.PENDING, Notification.Status.DIGEST],
    ).update(status=Notification.Status.FAILED)
    record.refresh_from_db()
    return record


# --- webhooks ------------------------------------------------------------------------------------


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_create(
    *, owner: User, url: str, idao: IDAO | None = None, kinds_filter: Sequence[str] = ()
) -> tuple[Webhook, str]:
    """A webhook and its secret (shown this once). An iDAO's webhook is a steward's to make."""
    if len(url) > Webhook._meta.get_field("url").max_length:  # type: ignore[operator]  # a URLField has one
        raise webhooks.WebhookUrlRefused("A webhook URL is at most 2000 characters.")
    webhooks.check_url(url)
    for kind in kinds_filter:
        if kind not in kinds.KINDS:
            raise UnknownEventKind(f"{kind!r} is not an event kind.")
    if idao is not None:
        steward_require(idao=idao, user=owner)
    secret = _new_secret()
    hook = Webhook.objects.create(owner=owner, idao=idao, url=url, secret=secret, kinds=sorted(set(kinds_filter)))
    return hook, secret


def _owned(owner: User, webhook_id: int, *, lock: bool = False) -> Webhook:
    rows = Webhook.objects.filter(pk=webhook_id, owner=owner)
    hook = (rows.select_for_update() if lock else rows).first()
    if hook is None:
        raise WebhookNotFound("No such webhook of yours.")
    return hook


def webhook_of(*, owner: User, webhook_id: int) -> Webhook:
    return _owned(owner, webhook_id)


def webhook_delete(*, owner: User, webhook_id: int) -> None:
    _owned(owner, webhook_id).delete()


def webhook_rotate_secret(*, owner: User, webhook_id: int) -> tuple[Webhook, str]:
    with transaction.atomic():
        hook = _owned(owner, webhook_id, lock=True)
        hook.secret = _new_secret()
        hook.save(update_fields=["secret"])
    return hook, hook.secret


def webhook_enable(*, owner: User, webhook_id: int) -> Webhook:
    with transaction.atomic():
        hook = _owned(owner, webhook_id, lock=True)
        hook.active, hook.disabled_at, hook.consecutive_failures = True, None, 0
        hook.save(update_fields=["active", "disabled_at", "consecutive_failures"])
    return hook


def webhook_send_test(*, owner: User, webhook_id: int) -> Event:
    hook = _owned(owner, webhook_id)
    with transaction.atomic():
        return emit(
            kind="webhook.test",
            subject=f"webhook:{hook.pk}",
            actor=owner,
            payload={"webhook": hook.pk, "title": "Test event"},
            recipients=[],
        )


def webhook_body(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    return json.dumps(
        {
            "id": event.pk,
            "delivery": delivery.pk,
            "kind": event.kind,
            "idao_id": event.idao_id,
            "subject": event.subject,
            "actor": event.actor.address if event.actor is not None else None,
            "payload": event.payload,
            "created_at": event.created_at.isoformat(),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _claim(delivery_id: int) -> bool:
    """Take one attempt of a delivery: the conditional UPDATE that makes a twice-run task send once.
    The attempt is counted here, once, whatever happens to the worker afterwards."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]
        ).update(status=WebhookDelivery.Status.DELIVERING, attempts=F("attempts") + 1, claimed_at=Now())
    )


def _finish(delivery_id: int, attempt: int, status: str) -> bool:
    """Record attempt `attempt`'s outcome, unless a later attempt has taken the delivery over (a
    sweep re-queued it and another worker claimed it): the row keeps the newest attempt's state."""
    fields: dict[str, Any] = {"status": status}
    if status != WebhookDelivery.Status.RETRYING:
        fields["finished_at"] = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            attempts=attempt,
            status__in=[WebhookDelivery.Status.DELIVERING, WebhookDelivery.Status.RETRYING],
        ).update(**fields)
    )


def webhook_attempt(*, delivery_id: int, max_attempts: int, disable_after: int) -> float | None:
    """One HTTP attempt of a delivery. Returns the delay before a retry, or None when finished."""
    if not _claim(delivery_id):
        return None
    delivery = WebhookDelivery.objects.select_related("webhook", "event", "event__actor").get(pk=delivery_id)
    hook = delivery.webhook
    if not hook.active and delivery.event.kind != "webhook.test":
        _finish(delivery_id, delivery.attempts, WebhookDelivery.Status.FAILED)
        return None
    outcome = webhooks.post(
        hook.url,
        secret=hook.secret,
        body=webhook_body(delivery),
        event_kind=delivery.event.kind,
        delivery_id=delivery.pk,
    )
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            status_code=outcome.status_code,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
        )
        if outcome.ok:
            Webhook.objects.filter(pk=hook.pk).update(consecutive_failures=0)
            _finish(delivery_id, delivery.attempts, WebhookDelivery.Status.SUCCEEDED)
            return None
        Webhook.objects.filter(pk=hook.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        failures = Webhook.objects.values_list("consecutive_failures", flat=True).get(pk=hook.pk)
        if failures >= disable_after and Webhook.objects.filter(pk=hook.pk, active=True).update(
            active=False, disabled_at=timezone.now()
        ):
            emit(
                kind="webhook.disabled",
                subject=f"webhook:{hook.pk}",
                payload={"webhook": hook.pk, "url": "/notifications/settings", "title": hook.url, "failures": failures},
                recipients=[hook.owner_id],
            )
            hook.active = False
        if outcome.retryable and delivery.attempts < max_attempts and hook.active:
            if _finish(delivery_id, delivery.attempts, WebhookDelivery.Status.RETRYING):
                return 2.0 ** (delivery.attempts - 1)
            return None
        _finish(delivery_id, delivery.attempts, WebhookDelivery.Status.FAILED)
    return None


STUCK_MARGIN_SECONDS = 60.0
INTERRUPTED = "interrupted: the worker stopped before recording the outcome"


def webhooks_sweep(*, timeout: float, max_attempts: int) -> list[int]:
    """Re-queue deliveries left `delivering` by a worker that died mid-attempt: claimed longer
    ago than the delivery timeout plus a margin, judged by database time (no worker clock). The
    interrupted attempt stays counted (once: the sweep does not add to `attempts`) and is logged;
    a delivery out of attempts fails. Returns the ids re-queued. Safe to run twice."""
    cutoff = Now() - timedelta(seconds=timeout + STUCK_MARGIN_SECONDS)
    with transaction.atomic():
        stuck = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.DELIVERING, claimed_at__lt=cutoff)
            .order_by("id")
            .values_list("id", "attempts")[:1000]
        )
        if not stuck:
            return []
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(delivery_id=pk, number=attempts, error=INTERRUPTED) for pk, attempts in stuck
        )
        requeue = [pk for pk, attempts in stuck if attempts < max_attempts]
        WebhookDelivery.objects.filter(pk__in=requeue).update(status=WebhookDelivery.Status.RETRYING)
        WebhookDelivery.objects.filter(pk__in=[pk for pk, a in stuck if a >= max_attempts]).update(
            status=WebhookDelivery.Status.FAILED, finished_at=timezone.now()
        )
        from .tasks import webhook_deliver

        for chunk in _chunks(requeue):
            transaction.on_commit(partial(webhook_deliver.delay, chunk))
    return requeue


# --- reminders -----------------------------------------------------------------------------------

MARKS = (("24h", 24 * 3600, "proposal.closes_24h"), ("1h", 3600, "proposal.closes_1h"))


def proposals_remind(*, now: datetime | None = None) -> int:
    """Emit "closes in 24 h / 1 h" once per proposal and mark, for proposals that crossed it."""

    from idaos.models import Proposal, ProposalState

    now = now or timezone.now()
    emitted = 0
    for mark, seconds, kind in MARKS:
        due = Proposal.objects.filter(
            state=ProposalState.ACTIVE, voting_ends_at__gt=now, voting_ends_at__lte=now + timedelta(seconds=seconds)
        ).values_list("id", "idao_id", "title", "voting_ends_at")
        for proposal_id, idao_id, title, ends in due:
            if ends is None:
                continue
            if mark == "24h" and ends - now <= timedelta(hours=1):
                continue  # the 1 h reminder covers it
            with transaction.atomic():
                _, created = Reminder.objects.get_or_create(subject=f"proposal:{proposal_id}", mark=mark)
                if created:
                    emit(
                        kind=kind,
                        idao=idao_id,
                        subject=f"proposal:{proposal_id}",
                        payload={"title": title, "voting_ends_at": ends.isoformat()},
                    )
                    emitted += 1
    return emitted


ROUND_EXPIRY_NOTICE_SECONDS = 3600


def rounds_remind(*, now: datetime | None = None) -> int:
    """Emit "round expires soon without your verdict" once per round, to the seated validators
    who have not given one, when the deadline is within the hour."""

    from quorums.models import Round, RoundState, Seat, Validator, Verdict

    now = now or timezone.now()
    emitted = 0
    due = Round.objects.filter(
        state=RoundState.OPEN, deadline__gt=now, deadline__lte=now + timedelta(seconds=ROUND_EXPIRY_NOTICE_SECONDS)
    ).values_list("id", "idao_id", "deadline")
    for round_id, idao_id, deadline in due:
        with transaction.atomic():
            _, created = Reminder.objects.get_or_create(subject=f"round:{round_id}", mark="expiring")
            if not created:
                continue
            voted = Verdict.objects.filter(round_id=round_id).values("validator_id")
            seated = Seat.objects.filter(round_id=round_id).exclude(validator_id__in=voted).values("validator_id")
            users = list(Validator.objects.filter(pk__in=seated).values_list("user_id", flat=True))
            if users:
                emit(
                    kind="round.expiring",
                    idao=idao_id,
                    subject=f"round:{round_id}",
                    recipients=users,
                    payload={"title": f"round {round_id}", "deadline": deadline.isoformat(), "url": "/validator/inbox"},
                )
                emitted += 1
    return emitted


DELEGATION_MARKS = (("7d", timedelta(days=7)), ("1d", timedelta(days=1)))


def delegations_remind(*, now: datetime | None = None) -> int:
    """Emit "your delegation expires soon" to the delegator once per live delegation and mark (7
    days, 1 day before its expiry; a delegation already within a day gets only the 1-day one)."""
    from idaos.models import Delegation

    now = now or timezone.now()
    emitted = 0
    for mark, ahead in DELEGATION_MARKS:
        due = (
            Delegation.objects.filter(ended_at__isnull=True, expires_at__gt=now, expires_at__lte=now + ahead)
            .exclude(Exists(_reminder_of("delegation", mark)))
            .values_list("id", "delegator", "scope", "expires_at")
        )
        for delegation_id, delegator, scope, expires_at in due:
            if mark == "7d" and expires_at - now <= timedelta(days=1):
                continue  # the 1-day reminder covers it
            user_id = User.objects.filter(address=delegator).values_list("pk", flat=True).first()
            if user_id is None:
                continue  # no account to tell (yet)
            with transaction.atomic():
                _, created = Reminder.objects.get_or_create(subject=f"delegation:{delegation_id}", mark=mark)
                if not created:
                    continue
                emit(  # personal (no iDAO): it reaches the delegator's channels, not an iDAO's webhooks
                    kind="delegation.expiring",
                    subject=f"delegation:{delegation_id}",
                    recipients=[user_id],
                    payload={"title": scope, "scope": scope, "expires_at": expires_at.isoformat(), "mark": mark},
                )
                emitted += 1
    return emitted


def _reminder_of(prefix: str, mark: str) -> QuerySet[Reminder]:
    """The Reminder row of the outer query's `prefix:<pk>` subject at `mark` (for Exists)."""
    subject = Concat(Value(f"{prefix}:"), Cast(OuterRef("pk"), CharField()))
    return Reminder.objects.filter(subject=subject, mark=mark)
