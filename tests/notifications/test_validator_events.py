"""Validators hear about their work: drawn onto a round (with its deadline), the round about to
expire without their verdict (once), slashed or jailed by moderation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from portal.models import Event
from quorums.models import Round
from tests.quorums.factories import setup_network
from tests.quorums.test_rounds import open_round, submit

pytestmark = pytest.mark.django_db


def test_drawn_validators_are_told_the_round_and_its_deadline():
    idao, _quorum, _personas = setup_network(5, committee_size=3)
    r = open_round(idao)
    drawn = Event.objects.filter(kind="validator.drawn", subject=f"round:{r.pk}")
    seated = set(r.seats.values_list("validator__user_id", flat=True))
    assert {e.recipients[0] for e in drawn} == seated and drawn.count() == 3
    assert drawn.first().payload["deadline"] == r.deadline.isoformat()


def test_round_expiring_reaches_only_seated_validators_without_a_verdict_once():
    idao, _quorum, personas = setup_network(3, committee_size=3)
    r = open_round(idao)
    submit(personas[0], r)
    Round.objects.filter(pk=r.pk).update(deadline=timezone.now() + timedelta(minutes=20))
    assert services.rounds_remind() == 1
    assert services.rounds_remind() == 0
    (event,) = Event.objects.filter(kind="round.expiring")
    voted = r.verdicts.values_list("validator__user_id", flat=True).get()
    assert voted not in event.recipients and len(event.recipients) == 2
