"""Celery beat closes proposals idempotently through a real worker; recount re-verifies everything."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from idaos.models import Ballot, Proposal
from idaos.schedule import BEAT
from idaos.services import ballots
from ledger.models import Leaf
from portal.celery import beat_schedule
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import BOB, CAROL


def cast(p, proposal, choice="for"):
    body = ballot(p, proposal, choice)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def test_beat_entry_is_merged():
    assert beat_schedule()["idaos-advance-proposals"] == BEAT["idaos-advance-proposals"]


@pytest.mark.django_db(transaction=True)
def test_worker_closes_due_proposal_once_when_beat_fires_twice(celery_worker):
    from idaos.tasks import advance_proposals

    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    cast(BOB, proposal)
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now() - timedelta(seconds=1))
    advance_proposals.delay()
    advance_proposals.delay()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Proposal.objects.get(pk=proposal.pk).state == "active":
        time.sleep(0.1)
    time.sleep(0.5)
    proposal.refresh_from_db()
    assert proposal.state == "executed"
    assert Leaf.objects.filter(subject=f"proposal:{proposal.pk}").count() == 2  # one result, one execution


@pytest.mark.django_db
def test_recount_reverifies_signatures_and_matches_the_result(capsys):
    from idaos.services.proposals import proposal_close

    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    cast(BOB, proposal, "for")
    cast(CAROL, proposal, "against")
    proposal.refresh_from_db()
    proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    call_command("recount", str(proposal.pk))
    out = capsys.readouterr().out
    assert "2 valid signatures" in out and out.startswith(f"PASS: proposal {proposal.pk}")

    tampered = Ballot.objects.get(voter=CAROL.address)
    Ballot.objects.filter(pk=tampered.pk).update(choice="for", message={**tampered.message, "choice": "for"})
    with pytest.raises(CommandError, match="FAIL: ballot"):
        call_command("recount", str(proposal.pk))
