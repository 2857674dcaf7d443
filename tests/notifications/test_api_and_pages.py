"""The JSON API (inbox, mark read, preferences, webhooks with secrets shown once), the inbox
pages and partials, and the Atom feeds with ETag/Last-Modified."""

from __future__ import annotations

import pytest
from django.db import transaction

from notifications.models import Notification, Webhook
from notifications.services import event_fanout
from portal.api_tokens import api_token_create
from portal.events import emit
from tests.factories import user_of
from tests.idaos.conftest import make_idao
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db


def delivered(kind="payout.received", who=BOB, **extra):
    event = emit(kind=kind, subject="epoch:1", payload={"title": "2 LAZ"}, recipients=[user_of(who)], **extra)
    event_fanout(event_id=event.pk)
    return event


def bearer(scopes=("notifications",), who=BOB):
    raw, _ = api_token_create(user=user_of(who), name="bot", subject="", scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_inbox_lists_your_notifications_and_marks_them_read(client):
    delivered()
    delivered(kind="validator.drawn")
    delivered(who=ALICE)
    auth = bearer()
    page = client.get("/api/v1/notifications", **auth).json()
    assert page["unread"] == 2 and page["total"] == 2
    assert [i["kind"] for i in page["items"]] == ["validator.drawn", "payout.received"]
    first = page["items"][0]["id"]
    marked = client.post("/api/v1/notifications/read", {"ids": [first]}, content_type="application/json", **auth)
    assert marked.json() == {"marked": 1, "unread": 1}
    assert client.get("/api/v1/notifications?unread=true", **auth).json()["total"] == 1
    alices = Notification.objects.get(recipient=user_of(ALICE)).pk
    other = client.post("/api/v1/notifications/read", {"ids": [alices]}, content_type="application/json", **auth)
    assert other.status_code == 404 and other.json()["error"] == "notification_not_found"
    assert client.post("/api/v1/notifications/read", {}, content_type="application/json", **auth).status_code == 422
    everything = client.post("/api/v1/notifications/read", {"all": True}, content_type="application/json", **auth)
    assert everything.json() == {"marked": 1, "unread": 0}


def test_a_token_without_the_notifications_scope_is_refused(client):
    response = client.get("/api/v1/notifications", **bearer(scopes=("validator",)))
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


def test_preferences_switch_a_kind_off_and_fanout_honours_it(client):
    auth = bearer()
    prefs = client.get("/api/v1/notifications/preferences", **auth).json()
    assert {
        "kind": "payout.received",
        "label": "You received an epoch payout",
        "channel": "inapp",
        "enabled": True,
    } in prefs
    assert all(not p["enabled"] for p in prefs if p["channel"] == "email")  # no verified address yet
    body = {"items": [{"kind": "payout.received", "channel": "inapp", "enabled": False}]}
    put = client.put("/api/v1/notifications/preferences", body, content_type="application/json", **auth)
    assert put.status_code == 200
    delivered()
    assert not Notification.objects.exists()
    bad = {"items": [{"kind": "no.such", "channel": "inapp", "enabled": False}]}
    refused = client.put("/api/v1/notifications/preferences", bad, content_type="application/json", **auth)
    assert refused.status_code == 422 and refused.json()["error"] == "unknown_event_kind"


def test_webhook_secret_is_shown_at_creation_and_rotation_only(client):
    auth = bearer()
    created = client.post(
        "/api/v1/webhooks", {"url": "https://example.org/hook"}, content_type="application/json", **auth
    )
    assert created.status_code == 201
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks", **auth).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", **auth).json()
    assert rotated["secret"] != hook["secret"] and Webhook.objects.get().secret == rotated["secret"]
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", **auth).json() == []
    assert client.post(f"/api/v1/webhooks/{hook['id']}/test", **auth).status_code == 202
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", **auth).status_code == 204
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", **auth).json()["error"] == "webhook_not_found"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://169.254.169.254/latest/", "http://[::1/x"]
)
def test_api_refuses_private_webhook_targets(client, url):
    response = client.post("/api/v1/webhooks", {"url": url}, content_type="application/json", **bearer())
    assert response.status_code == 422 and response.json()["error"] == "webhook_url_refused"


def test_only_stewards_add_an_idao_webhook(client):
    idao = make_idao(members=[BOB])
    body = {"url": "https://example.org/hook", "idao": idao.slug}
    refused = client.post("/api/v1/webhooks", body, content_type="application/json", **bearer())
    assert refused.status_code == 403 and refused.json()["error"] == "not_steward"
    made = client.post("/api/v1/webhooks", body, content_type="application/json", **bearer(who=ALICE))
    assert made.status_code == 201 and made.json()["idao"] == idao.slug


def test_inbox_page_badge_partial_and_following_a_notification(signed_in):
    browser = signed_in(BOB)
    delivered()
    badge = browser.get("/notifications/badge")
    assert (
        'hx-trigger="every 30s"' in badge.content.decode() and 'data-testid="unread-count">1<' in badge.content.decode()
    )
    inbox = browser.get("/notifications/")
    assert "You received an epoch payout: 2 LAZ" in inbox.content.decode()
    partial = browser.get("/notifications/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<ul id="inbox-list"')
    row = Notification.objects.get()
    opened = browser.get(f"/notifications/{row.pk}/open")
    assert opened.status_code == 302
    row.refresh_from_db()
    assert row.read_at is not None
    assert "unread-count" not in browser.get("/notifications/badge").content.decode()


def test_idao_feed_lists_proposals_and_is_cacheable(client):
    from tests.idaos.conftest import make_proposal

    idao = make_idao(members=[BOB])
    with transaction.atomic():
        make_proposal(idao, title="Open the archive")
    feed = client.get(f"/feeds/idaos/{idao.slug}.atom")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/atom+xml")
    assert "Open the archive" in feed.content.decode()
    assert feed["ETag"] and feed["Last-Modified"]
    again = client.get(f"/feeds/idaos/{idao.slug}.atom", HTTP_IF_NONE_MATCH=feed["ETag"])
    assert again.status_code == 304
    assert client.get("/feeds/idaos/nope.atom").status_code == 404


def test_dat_feed_lists_the_dats_events(client):
    emit(kind="dat.policy_changed", subject="dat:7", payload={"title": "Cardiology set"}, recipients=[])
    feed = client.get("/feeds/dats/7.atom")
    assert feed.status_code == 200 and "Cardiology set" in feed.content.decode()
    assert client.get("/feeds/dats/7.atom", HTTP_IF_MODIFIED_SINCE=feed["Last-Modified"]).status_code == 304
