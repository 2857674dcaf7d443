"""The home page: visitors get the introduction unchanged; a signed-in person gets a dashboard of
what needs them (proposals waiting for their vote, validator assignments, contributions in flight,
latest earnings, the unread inbox), assembled from panels other apps register
(portal.dashboard), at a query count that does not grow with what is on it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contributions.models import Contribution
from notifications.models import Notification
from portal import dashboard
from portal.models import Event
from quorums.models import Round, Seat, Validator
from rewards.models import Epoch, Payout
from tests.dats.factories import make_contribution
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_delegation_resolution import vote
from tests.personas import ALICE, BOB, CAROL
from tests.quorums.factories import QuorumFactory

pytestmark = pytest.mark.django_db


def _open_seat(idao, quorum, validator, n: int) -> None:
    now = timezone.now()
    r = Round.objects.create(
        quorum=quorum,
        idao=idao,
        subject_kind="contribution",
        subject_ref=f"dash-{idao.slug}-{n}",
        content_hash="0x" + f"{n:064x}",
        seed="0x" + "00" * 32,
        opened_at=now,
        deadline=now + timedelta(hours=n),
    )
    Seat.objects.create(round=r, validator=validator, address=validator.address, stake=100)


def _world(n: int, who=BOB):
    """`who`, a member of an iDAO with n active proposals (one voted), n open seats, n uploads in
    flight, n payout lines and n unread notifications."""
    idao = make_idao(members=[who], slug=f"dash-{n}")
    bob = user_of(who)
    proposals = [make_proposal(idao, title=f"Proposal {i} of {n}") for i in range(n)]
    vote(who, proposals[0], "against")
    quorum = QuorumFactory()
    validator = Validator.objects.create(quorum=quorum, user=bob, address=who.address, stake=100)
    for i in range(n):
        _open_seat(idao, quorum, validator, i + 1)
        c = make_contribution(idao, who, title=f"Upload {i} of {n}")
        Contribution.objects.filter(pk=c.pk).update(state="in_review")
    now = timezone.now()
    epoch = Epoch.objects.create(number=1000 + n, starts_at=now - timedelta(days=n + 1), ends_at=now, state="closed")
    for i in range(n):
        Payout.objects.create(
            epoch=epoch, asset="LAZ", role="contributor", recipient=who.address, user=bob, idao=idao, amount=1000 + i
        )
        event = Event.objects.create(kind="proposal.created", subject=f"proposal:{proposals[i].pk}")
        Notification.objects.create(event=event, recipient=bob, channel="inapp")
    return proposals


def test_visitors_home_is_the_introduction(client):
    body = client.get("/").content.decode()
    assert "Individuals govern the AI they create." in body
    assert 'data-testid="dashboard"' not in body


def test_signed_in_home_shows_votes_assignments_uploads_earnings_and_unread(signed_in):
    proposals = _world(2)
    body = signed_in(BOB).get("/").content.decode()
    assert 'data-testid="dashboard"' in body
    assert proposals[0].title in body and proposals[1].title in body
    assert "you voted against" in body and "not voted yet" in body
    assert "left</time>" in body
    assert body.count('data-testid="dashboard-assignment"') == 2
    assert "Upload 0 of 2" in body and "In review" in body
    assert "1,001 LAZ" in body or "1001 LAZ" in body
    assert "<strong>2</strong> unread notifications" in body


def test_dashboard_costs_the_same_queries_with_one_item_or_five(signed_in):
    counts = []
    for n, who in ((1, BOB), (5, CAROL)):
        _world(n, who)
        client = signed_in(who)
        client.get("/")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_a_dashboard_panel_registered_by_an_app_appears_in_order(signed_in, monkeypatch):
    monkeypatch.setattr(dashboard, "_panels", dict(dashboard._panels))
    dashboard.register_dashboard_panel(
        "first", lambda user: dashboard.DashboardPanel("Before all", "portal/error.html"), order=0
    )
    dashboard.register_dashboard_panel("hidden", lambda user: None, order=1)
    user_of(ALICE)
    body = signed_in(ALICE).get("/").content.decode()
    assert body.index('id="first"') < body.index('id="proposals"') < body.index('id="inbox"')
    assert 'id="hidden"' not in body
