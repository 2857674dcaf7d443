"""Property: whatever sequence of signed ballots arrives, the counted set is each voter's ballot
with the latest timestamp, and the tally is the sum of those ballots' weights."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idaos import selectors
from idaos.models import Ballot
from idaos.services import ballots
from portal.errors import DomainError
from tests.idaos.conftest import ballot, fund, make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL, DAVE

PEOPLE = [ALICE, BOB, CAROL, DAVE]
STAKES = {ALICE.address: 49, BOB.address: 10, CAROL.address: 1, DAVE.address: 0}

events = st.lists(
    st.tuples(st.sampled_from(range(4)), st.sampled_from(["for", "against", "abstain"]), st.integers(0, 5)),
    min_size=1,
    max_size=15,
)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events, rule=st.sampled_from(["one_member_one_vote", "stake_weighted", "quadratic"]))
def test_tally_counts_each_voters_latest_ballot(events, rule):
    with transaction.atomic():
        for p, amount in STAKES.items():
            if amount:
                fund(next(x for x in PEOPLE if x.address == p), amount)
        idao = make_idao(members=PEOPLE[1:], voting_rule=rule, slug=f"prop-{rule.replace('_', '-')}")
        proposal = make_proposal(idao)
        base = int(time.time())
        latest: dict[str, tuple[int, str]] = {}
        for who, choice, dt in events:
            person = PEOPLE[who]
            body = ballot(person, proposal, choice, ts=base + dt)
            try:
                ballots.ballot_cast(
                    proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(person)
                )
            except DomainError as exc:
                prev = latest.get(person.address)
                assert exc.code in ("duplicate_ballot", "superseded")
                assert prev is not None and base + dt <= prev[0]
                continue
            prev = latest.get(person.address)
            assert prev is None or base + dt > prev[0]
            latest[person.address] = (base + dt, choice)
        weights = {
            p.address: {
                "one_member_one_vote": 1,
                "stake_weighted": STAKES[p.address],
                "quadratic": int(STAKES[p.address] ** 0.5),
            }[rule]
            for p in PEOPLE
        }
        expected = {
            c: sum(weights[v] for v, (_, ch) in latest.items() if ch == c) for c in ("for", "against", "abstain")
        }
        tally = selectors.live_tally(proposal)
        assert {c: int(tally[c]) for c in expected} == expected
        assert tally["voters"] == len(latest)
        assert Ballot.objects.filter(proposal=proposal, counted=True).count() == len(latest)
        transaction.set_rollback(True)
