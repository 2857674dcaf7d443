"""A denied DAT access request rolls back everything it wrote, then tells the DAT owner once
(`dat.access_denied`, written in its own transaction after the rollback)."""

from __future__ import annotations

import pytest

from dats.models import DAT, AccessGrant
from ledger.models import Posting, Transaction
from ledger.selectors import balance
from notifications import services
from notifications.models import Notification
from portal.models import Event
from tests.dats.factories import credit, make_idao, minted, token_for, user_of, user_owner
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("use", "paid", "code", "status"),
    [("commercial", 1000, "use_not_allowed", 403), ("training", 99, "insufficient_credit", 402)],
    ids=["policy", "unpaid"],
)
def test_a_denied_access_request_tells_the_dat_owner_once_and_moves_nothing(client, use, paid, code, status):
    idao = make_idao(ALICE, slug="denials")
    dat = minted(idao, BOB, policy={"allowed_uses": ["training"], "price": 100})
    raw, _token = token_for(CAROL)
    credit(user_owner(CAROL), paid)
    before = (Transaction.objects.count(), Posting.objects.count(), Event.objects.count())

    response = client.post(
        f"/api/v1/dats/{dat.pk}/access",
        {"use": use},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_IDEMPOTENCY_KEY="job-1",
    )

    assert (response.status_code, response.json()["error"]) == (status, code)
    (event,) = Event.objects.filter(kind="dat.access_denied")
    assert event.recipients == [user_of(BOB).pk] and event.subject == f"dat:{dat.pk}"
    assert event.actor_id == user_of(CAROL).pk
    assert event.payload == {"title": dat.title, "use": use, "reason": code}
    # the denial is the only thing the request left behind: no grant, no use counted, no posting
    assert (Transaction.objects.count(), Posting.objects.count(), Event.objects.count()) == (
        before[0],
        before[1],
        before[2] + 1,
    )
    assert not AccessGrant.objects.exists() and DAT.objects.get(pk=dat.pk).used == 0
    assert balance(user_owner(CAROL), "CREDIT") == paid and balance(user_owner(BOB), "CREDIT") == 0
    services.event_fanout(event_id=event.pk)
    services.event_fanout(event_id=event.pk)
    inbox = Notification.objects.filter(event=event, channel="inapp")
    assert list(inbox.values_list("recipient_id", flat=True)) == [user_of(BOB).pk]


def test_a_request_for_a_missing_dat_emits_nothing(client):
    raw, _token = token_for(CAROL)
    response = client.post(
        "/api/v1/dats/999999/access",
        {"use": "training"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_IDEMPOTENCY_KEY="job-1",
    )
    assert response.status_code == 404
    assert not Event.objects.filter(kind="dat.access_denied").exists()


def test_a_denied_request_retried_in_a_loop_tells_the_owner_once_an_hour(client):
    idao = make_idao(ALICE, slug="denials-loop")
    dat = minted(idao, BOB, policy={"allowed_uses": ["training"], "price": 0})
    raw, _token = token_for(CAROL)
    for i in range(3):
        response = client.post(
            f"/api/v1/dats/{dat.pk}/access",
            {"use": "commercial"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
            HTTP_IDEMPOTENCY_KEY=f"job-{i}",
        )
        assert response.status_code == 403
    assert Event.objects.filter(kind="dat.access_denied").count() == 1
