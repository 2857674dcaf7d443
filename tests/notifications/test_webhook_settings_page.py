"""The settings page manages webhooks with the API's services and rules: a person's own and, for
stewards, an iDAO's; the secret shown once; the API's refusals; a "send test event" button that
sends a signed test event to that webhook only (delivered by a real worker to a real receiver)."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import services
from notifications.models import Webhook, WebhookDelivery
from portal.events import emit
from tests.celery_helpers import wait_for
from tests.factories import user_of
from tests.idaos.conftest import make_idao
from tests.personas import ALICE, BOB

URL = "/notifications/settings"


def post(browser, htmx=False, **data):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return browser.post(URL, data, **extra)


def shown_secret(response) -> str:
    found = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', response.content.decode())
    return found.group(1) if found else ""


@pytest.mark.django_db
def test_a_person_adds_a_webhook_on_the_settings_page_and_sees_its_secret_once(signed_in):
    browser = signed_in(BOB)
    made = post(browser, action="webhook_create", url="https://example.org/hook", kinds=["payout.received"])
    assert made.status_code == 201
    hook = Webhook.objects.get()
    assert (hook.owner.address, hook.idao, hook.kinds) == (BOB.address, None, ["payout.received"])
    assert shown_secret(made) == hook.secret
    page = browser.get(URL).content.decode()
    assert "https://example.org/hook" in page and hook.secret not in page
    rotated = post(browser, htmx=True, action="webhook_rotate", webhook=hook.pk)
    assert rotated.content.decode().lstrip().startswith('<section id="webhooks"')
    hook.refresh_from_db()
    assert shown_secret(rotated) == hook.secret
    assert post(browser, action="webhook_delete", webhook=hook.pk).status_code == 200
    assert not Webhook.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        ({"url": "http://127.0.0.1:9/x"}, 422, "not a public address"),
        ({"url": "http://169.254.169.254/latest/"}, 422, "not a public address"),
        ({"url": "https://example.org/" + "a" * 2000}, 422, "at most 2000 characters"),
        ({"url": "http://[::1"}, 422, "webhook"),
        ({"url": "ftp://example.org/x"}, 422, "http:// or https://"),
        ({"url": "https://example.org/hook", "kinds": ["no.such"]}, 422, "is not an event kind"),
        ({"url": "https://example.org/hook", "idao": "open-health"}, 403, "steward"),
        ({"url": "https://example.org/hook", "idao": "nowhere"}, 404, "nowhere"),
    ],
    ids=["loopback", "metadata", "too-long", "bad-host", "scheme", "kind", "not-steward", "no-idao"],
)
def test_the_page_refuses_what_the_api_refuses_and_writes_nothing(signed_in, data, status, text):
    make_idao(members=[BOB])
    browser = signed_in(BOB)
    response = post(browser, action="webhook_create", **data)
    assert response.status_code == status
    assert text in response.content.decode()
    fragment = post(browser, htmx=True, action="webhook_create", **data)  # htmx swaps only a 2xx answer
    assert fragment.status_code == 200 and text in fragment.content.decode()
    assert fragment.content.decode().lstrip().startswith('<section id="webhooks"')
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_a_steward_adds_an_idao_webhook_and_another_person_cannot_touch_it(signed_in):
    idao = make_idao(members=[BOB])
    alice = signed_in(ALICE)
    assert idao.name in alice.get(URL).content.decode()  # offered in the "For" choice
    assert post(alice, action="webhook_create", url="https://example.org/dao", idao=idao.slug).status_code == 201
    hook = Webhook.objects.get()
    assert hook.idao_id == idao.pk and hook.owner.address == ALICE.address
    bob = signed_in(BOB)
    assert idao.name not in bob.get(URL).content.decode()
    for action in ("webhook_test", "webhook_rotate", "webhook_delete"):
        response = post(bob, action=action, webhook=hook.pk)
        assert response.status_code == 404 and "No such webhook" in response.content.decode()
    assert post(bob, action="webhook_test", webhook="x").status_code == 404
    assert Webhook.objects.get().secret == hook.secret and not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_send_test_event_button_delivers_a_signed_test_event_to_that_webhook(
    signed_in, broker, celery_worker, receiver, private_targets
):
    browser = signed_in(BOB)
    made = post(browser, action="webhook_create", url=receiver.url)
    receiver.secret = shown_secret(made)
    hook = Webhook.objects.get()
    assert post(browser, htmx=True, action="webhook_test", webhook=hook.pk).status_code == 200
    wait_for(lambda: WebhookDelivery.objects.filter(webhook=hook, status="succeeded").exists())
    assert receiver.kinds() == ["webhook.test"] and receiver.requests[0]["verified"]
    log = browser.get(URL).content.decode()
    assert "webhook.test" in log and "HTTP 200" in log


@pytest.mark.django_db
def test_the_settings_page_queries_do_not_grow_with_webhooks_and_deliveries(signed_in):
    browser = signed_in(BOB)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(URL).status_code == 200
        return len(captured)

    def more(n: int) -> None:
        for i in range(n):
            hook, _ = services.webhook_create(owner=user_of(BOB), url=f"https://example.org/{i}")
            with transaction.atomic():
                event = emit(kind="webhook.test", subject=f"webhook:{hook.pk}", payload={"webhook": hook.pk})
            WebhookDelivery.objects.create(event=event, webhook=hook)

    more(1)
    queries()  # the first page of a session also touches the session
    few = queries()
    more(5)
    assert queries() == few
