"""Reads shaped for the inbox, the settings page, the API and the feeds."""

from __future__ import annotations

from typing import Any

from idaos.models import IDAO, MembershipStatus, Role
from portal.models import Event, User

from . import kinds
from .models import Channel, EmailAddress, Notification, Preference, Webhook, WebhookDelivery


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, channel=Channel.INAPP, read_at__isnull=True).count()


def inbox(*, user: User, offset: int = 0, limit: int = 50, unread_only: bool = False) -> dict[str, Any]:
    rows = Notification.objects.filter(recipient=user, channel=Channel.INAPP)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = rows.select_related("event").order_by("-id")[offset : offset + limit]
    return {
        "items": [
            {
                "id": n.pk,
                "kind": n.event.kind,
                "title": kinds.title(n.event),
                "subject": n.event.subject,
                "idao_id": n.event.idao_id,
                "payload": n.event.payload,
                "url": kinds.link(n.event),
                "created_at": n.created_at,
                "read": n.read_at is not None,
            }
            for n in page
        ],
        "unread": unread_count(user=user),
        "total": rows.count(),
    }


def preferences(*, user: User) -> list[dict[str, Any]]:
    email = EmailAddress.objects.filter(user=user).first()
    email_ok = bool(email and email.verified_at and not email.unsubscribed_at)
    chosen = {(p.kind, p.channel): p.enabled for p in Preference.objects.filter(user=user)}
    out = []
    for kind, label in kinds.KINDS.items():
        for channel in Channel.values:
            default = True if channel == Channel.INAPP else email_ok
            enabled = chosen.get((kind, channel), default)
            if channel == Channel.EMAIL:
                enabled = enabled and email_ok
            out.append({"kind": kind, "label": label, "channel": channel, "enabled": enabled})
    return out


def webhook_dict(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.pk,
        "url": hook.url,
        "idao": hook.idao.slug if hook.idao is not None else None,
        "kinds": hook.kinds,
        "active": hook.active,
        "consecutive_failures": hook.consecutive_failures,
        "disabled_at": hook.disabled_at,
        "created_at": hook.created_at,
    }


def webhooks_of(*, user: User) -> list[dict[str, Any]]:
    return [webhook_dict(h) for h in Webhook.objects.filter(owner=user).select_related("idao").order_by("id")]


def stewarded_idaos(*, user: User) -> list[IDAO]:
    """The iDAOs whose webhooks this person may add (an active steward's)."""
    return list(
        IDAO.objects.filter(
            memberships__user=user, memberships__status=MembershipStatus.ACTIVE, memberships__role=Role.STEWARD
        ).order_by("slug")
    )


def recent_deliveries(*, user: User, limit: int = 20) -> list[dict[str, Any]]:
    """The latest deliveries of all of a person's webhooks with their attempts (two queries)."""
    rows = WebhookDelivery.objects.filter(webhook__owner=user).select_related("event").prefetch_related("log")
    out = []
    for d in rows.order_by("-id")[:limit]:
        attempts = list(d.log.all())
        last = attempts[-1] if attempts else None
        out.append(
            {
                "id": d.pk,
                "webhook_id": d.webhook_id,
                "kind": d.event.kind,
                "status": d.status,
                "attempts": d.attempts,
                "status_code": last.status_code if last else None,
                "error": last.error if last else "",
                "latency_ms": last.latency_ms if last else None,
                "created_at": d.created_at,
            }
        )
    return out


def deliveries(*, webhook: Webhook, limit: int = 50) -> list[dict[str, Any]]:
    rows = WebhookDelivery.objects.filter(webhook=webhook).select_related("event").prefetch_related("log")
    return [
        {
            "id": d.pk,
            "event_id": d.event_id,
            "kind": d.event.kind,
            "status": d.status,
            "attempts": [
                {
                    "number": a.number,
                    "status_code": a.status_code,
                    "error": a.error,
                    "latency_ms": a.latency_ms,
                    "at": a.created_at,
                }
                for a in d.log.all()
            ],
        }
        for d in rows.order_by("-id")[:limit]
    ]


def feed_events(*, idao_id: int | None = None, subject: str | None = None, limit: int = 50) -> list[Event]:
    rows = Event.objects.exclude(kind__startswith="webhook.")
    if idao_id is not None:
        rows = rows.filter(
            idao_id=idao_id, kind__in=sorted(kinds.MEMBER_KINDS - {"proposal.closes_24h", "proposal.closes_1h"})
        )
    if subject is not None:
        rows = rows.filter(subject=subject)
    return list(rows.order_by("-id")[:limit])
