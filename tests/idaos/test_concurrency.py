"""Concurrent ballots on PostgreSQL: never a double count, never a lost vote, and closing while
ballots arrive counts each ballot either fully or not at all."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.utils import timezone

from idaos import selectors
from idaos.models import Ballot, Proposal
from idaos.services import ballots, proposals
from portal.errors import DomainError
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import BOB, many

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def submit(body, user) -> str:
    try:
        ballots.ballot_cast(
            proposal_id=body["message"]["proposal"], message=body["message"], signature=body["signature"], user=user
        )
        return "ok"
    except DomainError as exc:
        return exc.code
    finally:
        connections.close_all()


def run_all(jobs, workers=25):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: submit(*job), jobs))


def test_fifty_identical_submissions_by_one_member_store_one_ballot():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    body, bob = ballot(BOB, proposal, "for"), user_of(BOB)
    results = run_all([(body, bob)] * 50)
    assert results.count("ok") == 1 and results.count("duplicate_ballot") == 49
    assert Ballot.objects.filter(proposal=proposal).count() == 1


def test_fifty_different_ballots_by_one_member_count_once_the_latest():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    now, bob = int(time.time()), user_of(BOB)
    jobs = [(ballot(BOB, proposal, ("for", "against", "abstain")[i % 3], ts=now + i), bob) for i in range(50)]
    results = run_all(jobs)
    assert set(results) <= {"ok", "superseded"}
    counted = Ballot.objects.filter(proposal=proposal, counted=True)
    assert counted.count() == 1 and counted.get().timestamp == now + 49
    assert selectors.live_tally(proposal)["voters"] == 1
    assert Ballot.objects.filter(proposal=proposal).count() == results.count("ok")


def test_two_hundred_members_voting_concurrently_are_all_counted():
    voters = many(200)
    idao = make_idao(members=voters)
    proposal = make_proposal(idao)
    jobs = [(ballot(p, proposal, "for" if i % 2 else "against"), user_of(p)) for i, p in enumerate(voters)]
    results = run_all(jobs)
    assert results.count("ok") == 200, {r for r in results if r != "ok"}
    tally = selectors.live_tally(proposal)
    assert tally["voters"] == 200 and tally["for"] == "100" and tally["against"] == "100"


def test_closing_while_ballots_arrive_counts_exactly_the_stored_ballots():
    voters = many(60, start=3000)
    idao = make_idao(members=voters, slug="race")
    proposal = make_proposal(idao)
    jobs = [(ballot(p, proposal, "for"), user_of(p)) for p in voters]
    # Move the deadline to now so the closer may run while ballots are still being submitted.
    with ThreadPoolExecutor(max_workers=21) as pool:
        futures = [pool.submit(submit, *job) for job in jobs]
        time.sleep(0.05)
        Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now())
        closed = pool.submit(lambda: (proposals.proposal_close(proposal_id=proposal.pk), connections.close_all())[0])
        results = [f.result() for f in futures]
        assert closed.result() is True
    proposal.refresh_from_db()
    stored = Ballot.objects.filter(proposal=proposal, counted=True).count()
    assert results.count("ok") == stored
    assert proposal.tally["voters"] == stored and proposal.tally["for"] == str(stored)
    assert set(results) <= {"ok", "voting_closed"}
