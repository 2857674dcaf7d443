"""The inbox, preferences and webhooks over the JSON API (scope `notifications`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Query, Schema, Status
from pydantic import ConfigDict, Field, model_validator

from idaos.selectors import idao_get
from portal.auth import api_auth
from portal.routers import PortalRouter
from portal.schemas import Id, Limit, Offset

from . import selectors, services

router = PortalRouter(tags=["notifications"])
AUTH = api_auth(scope="notifications")


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    subject: str
    idao_id: int | None
    payload: dict[str, Any]
    url: str
    created_at: datetime
    read: bool


class InboxOut(Schema):
    items: list[NotificationOut]
    unread: int
    total: int


class InboxQuery(Schema):
    offset: Offset = 0
    limit: Limit = 50
    unread: bool = False


class MarkReadIn(Schema):
    model_config = ConfigDict(extra="forbid")
    ids: list[Id] | None = Field(default=None, min_length=1, max_length=500)
    all: bool = Field(default=False, description="true marks every notification read (instead of ids).")

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadIn:
        if (self.ids is None) == (not self.all):
            raise ValueError("send either ids or all: true")
        return self


class MarkedOut(Schema):
    marked: int
    unread: int


class PreferenceOut(Schema):
    kind: str
    label: str
    channel: str
    enabled: bool


class PreferenceIn(Schema):
    kind: str = Field(max_length=64)
    channel: str = Field(max_length=8)
    enabled: bool


class PreferencesIn(Schema):
    items: list[PreferenceIn] = Field(max_length=200)


class WebhookIn(Schema):
    url: str = Field(max_length=2000)
    idao: str | None = Field(default=None, max_length=64, description="An iDAO slug you steward.")
    kinds: list[str] = Field(default_factory=list, max_length=100)


class WebhookOut(Schema):
    id: int
    url: str
    idao: str | None
    kinds: list[str]
    active: bool
    consecutive_failures: int
    disabled_at: datetime | None
    created_at: datetime


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="Shown once: store it to check X-Portal-Signature.")


class AttemptOut(Schema):
    number: int
    status_code: int | None
    error: str
    latency_ms: int
    at: datetime


class DeliveryOut(Schema):
    id: int
    event_id: int
    kind: str
    status: str
    attempts: list[AttemptOut]


class TestOut(Schema):
    event_id: int


@router.get("/notifications", response=InboxOut, auth=AUTH)
def notifications_list(request, query: Query[InboxQuery]):
    return selectors.inbox(user=request.auth, offset=query.offset, limit=query.limit, unread_only=query.unread)


@router.post("/notifications/read", response=MarkedOut, auth=AUTH, errors=("notification_not_found",))
def notifications_mark_read(request, body: MarkReadIn):
    marked = services.notifications_mark_read(user=request.auth, ids=None if body.all else body.ids)
    return {"marked": marked, "unread": selectors.unread_count(user=request.auth)}


@router.get("/notifications/preferences", response=list[PreferenceOut], auth=AUTH)
def preferences_get(request):
    return selectors.preferences(user=request.auth)


@router.put("/notifications/preferences", response=list[PreferenceOut], auth=AUTH, errors=("unknown_event_kind",))
def preferences_put(request, body: PreferencesIn):
    services.preferences_set(user=request.auth, items=[(i.kind, i.channel, i.enabled) for i in body.items])
    return selectors.preferences(user=request.auth)


@router.get("/webhooks", response=list[WebhookOut], auth=AUTH)
def webhooks_list(request):
    return selectors.webhooks_of(user=request.auth)


@router.post(
    "/webhooks",
    response={201: WebhookSecretOut},
    auth=AUTH,
    errors=("webhook_url_refused", "unknown_event_kind", "not_found", "not_steward"),
)
def webhooks_create(request, body: WebhookIn):
    idao = idao_get(body.idao) if body.idao else None
    hook, secret = services.webhook_create(owner=request.auth, url=body.url, idao=idao, kinds_filter=body.kinds)
    return Status(201, {**selectors.webhook_dict(hook), "secret": secret})


@router.delete("/webhooks/{webhook_id}", response={204: None}, auth=AUTH, errors=("webhook_not_found",))
def webhooks_delete(request, webhook_id: Id):
    services.webhook_delete(owner=request.auth, webhook_id=webhook_id)
    return Status(204, None)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret", response=WebhookSecretOut, auth=AUTH, errors=("webhook_not_found",)
)
def webhooks_rotate(request, webhook_id: Id):
    hook, secret = services.webhook_rotate_secret(owner=request.auth, webhook_id=webhook_id)
    return {**selectors.webhook_dict(hook), "secret": secret}


@router.get("/webhooks/{webhook_id}/deliveries", response=list[DeliveryOut], auth=AUTH, errors=("webhook_not_found",))
def webhooks_deliveries(request, webhook_id: Id):
    hook = services.webhook_of(owner=request.auth, webhook_id=webhook_id)
    return selectors.deliveries(webhook=hook)


@router.post("/webhooks/{webhook_id}/test", response={202: TestOut}, auth=AUTH, errors=("webhook_not_found",))
def webhooks_test(request, webhook_id: Id):
    event = services.webhook_send_test(owner=request.auth, webhook_id=webhook_id)
    return Status(202, {"event_id": event.pk})
