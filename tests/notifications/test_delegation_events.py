"""Delegators hear about their delegations: a delegate's ballot that carried their power when the
proposal closed, and the delegation about to expire (7 days and 1 day before, once each)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from idaos.services import proposals
from notifications import services
from notifications.models import Notification
from portal.models import Event
from tests.factories import user_of
from tests.idaos.test_delegation_resolution import delegate, make_proposal, staked_idao, vote
from tests.idaos.test_delegations import DAY
from tests.personas import ALICE, BOB, CAROL, DAVE

pytestmark = pytest.mark.django_db


def test_a_delegator_who_did_not_vote_is_told_which_delegate_voted_for_them_at_close():
    idao = staked_idao(ALICE, BOB, CAROL, DAVE)
    delegate(ALICE, [(BOB, 10000)])  # BOB votes: ALICE is told
    delegate(CAROL, [(BOB, 10000)])  # CAROL votes herself after all: her own ballot counts, nothing to tell
    delegate(DAVE, [(CAROL, 10000)])  # DAVE's power follows CAROL, who voted: DAVE is told
    proposal = make_proposal(idao)
    vote(BOB, proposal, "for")
    vote(CAROL, proposal, "against")
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    assert not proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)  # closes once

    told = {e.recipients[0]: e for e in Event.objects.filter(kind="delegate.voted")}
    assert set(told) == {user_of(ALICE).pk, user_of(DAVE).pk}
    event = told[user_of(ALICE).pk]
    assert event.subject == f"proposal:{proposal.pk}" and event.payload["title"] == proposal.title
    assert event.payload["votes"] == [{"delegate": BOB.address, "choice": "for", "amount": "100"}]
    assert told[user_of(DAVE).pk].payload["votes"] == [
        {"delegate": CAROL.address, "choice": "against", "amount": "400"}
    ]
    services.event_fanout(event_id=event.pk)
    assert Notification.objects.filter(event=event, channel="inapp").get().recipient_id == user_of(ALICE).pk


def test_delegation_expiry_is_told_7_days_and_1_day_before_once_each():
    for p in (ALICE, CAROL, DAVE):
        user_of(p)
    now = timezone.now()
    soon = delegate(ALICE, [(BOB, 10000)], expiry=int(time.time()) + 6 * DAY)
    later = delegate(CAROL, [(BOB, 10000)], expiry=int(time.time()) + 20 * DAY)
    ended = delegate(DAVE, [(BOB, 10000)], expiry=int(time.time()) + 3 * DAY)
    ended.ended_at = now
    ended.save(update_fields=["ended_at"])

    assert services.delegations_remind(now=now) == 1
    assert services.delegations_remind(now=now) == 0  # a second beat emits nothing new
    (week,) = Event.objects.filter(kind="delegation.expiring")
    assert week.recipients == [user_of(ALICE).pk] and week.subject == f"delegation:{soon.pk}"
    assert week.payload["mark"] == "7d"

    day_before = soon.expires_at - timedelta(hours=12)
    assert services.delegations_remind(now=day_before) == 1
    assert services.delegations_remind(now=day_before) == 0
    marks = list(
        Event.objects.filter(kind="delegation.expiring").order_by("id").values_list("payload__mark", flat=True)
    )
    assert marks == ["7d", "1d"]
    assert not Event.objects.filter(kind="delegation.expiring", subject=f"delegation:{later.pk}").exists()


def test_a_delegation_made_within_a_day_of_its_expiry_gets_only_the_1_day_reminder():
    user_of(ALICE)
    delegate(ALICE, [(BOB, 10000)], expiry=int(time.time()) + 3600 * 20)
    assert services.delegations_remind() == 1
    assert services.delegations_remind() == 0
    assert list(Event.objects.filter(kind="delegation.expiring").values_list("payload__mark", flat=True)) == ["1d"]
