"""Delegations resolving into the voting-power snapshot at activation, and direct ballots
overriding them in the tally (PostgreSQL): scope precedence, depth, cycles, expiry, split, caps,
quadratic per delegator, and your own ballot winning in both orders and concurrently."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from django.db import connection

from idaos.models import Proposal, VotingPower
from idaos.selectors import live_tally
from idaos.services import ballots, delegations
from tests.idaos.conftest import ballot, fund, make_idao, make_proposal, user_of
from tests.idaos.test_delegations import DAY, signed_delegation
from tests.personas import ALICE, BOB, CAROL, DAVE, MALLORY, many

pytestmark = pytest.mark.django_db


def delegate(p, shares, *, scope="domain:healthcare", now=None, expiry=None):
    nonce = delegations.delegation_nonce(delegator=p.address)
    body = signed_delegation(p, [(d, bps) for d, bps in shares], scope=scope, nonce=nonce, expiry=expiry)
    return delegations.delegation_create(**body, now=now)


def vote(p, proposal, choice):
    body = ballot(p, proposal, choice)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def row(proposal, p) -> VotingPower:
    return VotingPower.objects.get(proposal=proposal, voter=p.address)


def tally_of(proposal) -> tuple[int, int, int]:
    t = live_tally(Proposal.objects.get(pk=proposal.pk))
    return int(t["for"]), int(t["against"]), int(t["abstain"])


def staked_idao(*people, slug="open-health", **charter):
    for i, p in enumerate(people):
        fund(p, 100 * (i + 1))
    return make_idao(members=[p for p in people if p is not ALICE], slug=slug, voting_rule="stake_weighted", **charter)


def test_most_specific_scope_wins():
    idao = staked_idao(ALICE, BOB, CAROL, DAVE)
    make_idao(members=[BOB, CAROL, DAVE], slug="other-health", voting_rule="stake_weighted")
    delegate(ALICE, [(BOB, 10000)], scope="global")
    delegate(ALICE, [(CAROL, 10000)], scope="domain:healthcare")
    delegate(ALICE, [(DAVE, 10000)], scope=f"idao:{idao.slug}")
    proposal = make_proposal(idao)
    assert row(proposal, DAVE).delegated == 100
    assert row(proposal, DAVE).delegated_from == [{"from": ALICE.address, "via": [DAVE.address], "amount": "100"}]
    assert row(proposal, CAROL).delegated == 0 and row(proposal, BOB).delegated == 0
    assert row(proposal, ALICE).delegated_out == 100
    from idaos.models import IDAO

    other = make_proposal(IDAO.objects.get(slug="other-health"), author=BOB)
    # In another healthcare iDAO the iDAO-scoped delegation does not apply: the domain one does.
    assert VotingPower.objects.get(proposal=other, voter=CAROL.address).delegated == 100
    assert VotingPower.objects.get(proposal=other, voter=DAVE.address).delegated == 0


def test_domain_scope_beats_global_in_another_idao_of_the_domain():
    idao = staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 10000)], scope="global")
    delegate(ALICE, [(CAROL, 10000)], scope="domain:healthcare")
    proposal = make_proposal(idao)
    assert (row(proposal, CAROL).delegated, row(proposal, BOB).delegated) == (100, 0)


def test_chains_are_followed_up_to_depth_three():
    people = [ALICE, BOB, CAROL, DAVE, MALLORY]
    idao = staked_idao(*people)
    for a, b in itertools.pairwise(people):
        delegate(a, [(b, 10000)])
    proposal = make_proposal(idao)
    # alice's 100 goes bob -> carol -> dave and stops there (three hops); bob's 200 reaches mallory.
    assert row(proposal, DAVE).delegated_from[0] == {
        "from": ALICE.address,
        "via": [BOB.address, CAROL.address, DAVE.address],
        "amount": "100",
    }
    assert row(proposal, DAVE).delegated == 100
    assert row(proposal, MALLORY).delegated == 200 + 300 + 400


def test_cycles_are_cut_and_their_members_keep_their_own_power():
    idao = staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 10000)])
    delegate(BOB, [(ALICE, 10000)])
    delegate(CAROL, [(ALICE, 10000)])
    proposal = make_proposal(idao)
    assert row(proposal, ALICE).delegated_out == 0 and row(proposal, BOB).delegated_out == 0
    assert row(proposal, ALICE).delegated == 300  # carol's, who is not on the cycle


def test_expired_delegations_are_ignored():
    idao = staked_idao(ALICE, BOB)
    from datetime import timedelta

    from django.utils import timezone

    delegate(ALICE, [(BOB, 10000)], now=timezone.now() - timedelta(days=10), expiry=int(time.time()) - DAY)
    proposal = make_proposal(idao)
    assert row(proposal, BOB).delegated == 0


def test_split_shares_move_their_basis_points_and_the_rest_is_kept():
    fund(ALICE, 10000)
    idao = make_idao(members=[BOB, CAROL], voting_rule="stake_weighted")
    fund(BOB, 1)
    fund(CAROL, 1)
    delegate(ALICE, [(BOB, 6000), (CAROL, 3000)])
    proposal = make_proposal(idao)
    assert (row(proposal, BOB).delegated, row(proposal, CAROL).delegated) == (6000, 3000)
    assert row(proposal, ALICE).delegated_out == 9000
    vote(BOB, proposal, "for")
    vote(CAROL, proposal, "against")
    assert tally_of(proposal) == (6001, 3001, 0)  # alice's kept 1000 is not counted: she did not vote


def test_delegate_without_own_power_or_membership_gets_nothing():
    fund(ALICE, 100)
    idao = make_idao(members=[BOB], voting_rule="stake_weighted")  # bob has no LAZ
    delegate(ALICE, [(BOB, 5000), (MALLORY, 5000)])
    proposal = make_proposal(idao)
    assert row(proposal, BOB).delegated == 0 and row(proposal, ALICE).delegated_out == 0


def test_one_member_one_vote_caps_delegated_votes_and_the_surplus_stays():
    members = many(8, start=3100)
    idao = make_idao(members=[BOB, *members], delegation_cap_bps=2000)  # 10 members: cap 2
    for p in members[:4]:
        delegate(p, [(BOB, 10000)])
    proposal = make_proposal(idao)
    assert row(proposal, BOB).delegated == 2
    assert [r["from"] for r in row(proposal, BOB).delegated_from] == [p.address for p in members[:2]]
    assert row(proposal, members[2]).delegated_out == 0
    vote(BOB, proposal, "for")
    assert tally_of(proposal) == (3, 0, 0)


def test_quadratic_takes_the_square_root_per_delegator():
    fund(ALICE, 100)
    fund(BOB, 100)
    fund(CAROL, 1)
    idao = make_idao(members=[BOB, CAROL], voting_rule="quadratic")
    delegate(ALICE, [(CAROL, 10000)])
    delegate(BOB, [(CAROL, 10000)])
    proposal = make_proposal(idao)
    assert row(proposal, CAROL).delegated == 20  # sqrt(100) + sqrt(100), not sqrt(200)
    vote(CAROL, proposal, "for")
    assert tally_of(proposal) == (21, 0, 0)


@pytest.fixture
def delegated_proposal():
    idao = staked_idao(ALICE, BOB, CAROL)  # 100, 200, 300
    delegate(ALICE, [(BOB, 10000)])
    return make_proposal(idao)


def test_delegators_own_ballot_wins_after_the_delegate_voted(delegated_proposal):
    vote(BOB, delegated_proposal, "for")
    assert tally_of(delegated_proposal) == (300, 0, 0)
    vote(ALICE, delegated_proposal, "against")
    assert tally_of(delegated_proposal) == (200, 100, 0)


def test_delegators_own_ballot_wins_before_the_delegate_votes(delegated_proposal):
    vote(ALICE, delegated_proposal, "against")
    vote(BOB, delegated_proposal, "for")
    assert tally_of(delegated_proposal) == (200, 100, 0)


def test_intermediate_delegates_ballot_beats_the_end_of_the_chain():
    idao = staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 10000)])
    delegate(BOB, [(CAROL, 10000)])
    proposal = make_proposal(idao)
    vote(CAROL, proposal, "for")
    assert tally_of(proposal) == (600, 0, 0)
    vote(BOB, proposal, "against")  # bob takes back his own 200 and alice's 100 that went through him
    assert tally_of(proposal) == (300, 300, 0)


@pytest.mark.django_db(transaction=True)
def test_delegator_and_delegate_voting_concurrently_count_each_weight_once():
    idao = staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 10000)])
    proposal = make_proposal(idao)
    bodies = {p: ballot(p, proposal, c) for p, c in ((ALICE, "against"), (BOB, "for"))}
    users = {p: user_of(p) for p in bodies}
    barrier = threading.Barrier(2)
    errors = []

    def cast(p):
        try:
            barrier.wait()
            ballots.ballot_cast(
                proposal_id=proposal.pk,
                message=bodies[p]["message"],
                signature=bodies[p]["signature"],
                user=users[p],
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=cast, args=(p,)) for p in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert tally_of(proposal) == (200, 100, 0)


def test_export_carries_the_signed_delegation_graph_and_the_offline_recount_rederives_it():
    from idaos import recount
    from idaos.selectors import proposal_export
    from idaos.services import proposals

    idao = staked_idao(ALICE, BOB, CAROL)
    delegate(ALICE, [(BOB, 10000)])
    proposal = make_proposal(idao)
    vote(BOB, proposal, "for")
    vote(CAROL, proposal, "against")
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    proposal.refresh_from_db()
    assert (proposal.tally["for"], proposal.tally["against"]) == ("300", "300")
    export = json.loads(json.dumps(proposal_export(proposal), default=str))
    graph = export["delegation"]["delegations"]
    assert [g["delegator"] for g in graph] == [ALICE.address]
    assert graph[0]["flows"] == [{"via": [BOB.address], "amount": "100"}]
    report = recount.recount(export)
    assert report.tally["for"] == "300"
    assert any("delegated weights re-derived" in c for c in report.checks)
    graph[0]["flows"] = [{"via": [BOB.address], "amount": "99"}]
    with pytest.raises(recount.Mismatch):
        recount.recount(export)


def test_the_tallys_sql_gives_what_the_python_spec_gives():
    from idaos import delegation as spec
    from idaos.models import Ballot
    from idaos.selectors import _delegated_sums_sql, delegation_flows

    people = [ALICE, BOB, CAROL, DAVE, MALLORY]
    idao = staked_idao(*people)
    delegate(ALICE, [(BOB, 7000), (CAROL, 2000)])
    delegate(BOB, [(CAROL, 10000)])
    delegate(CAROL, [(DAVE, 5000)])
    delegate(MALLORY, [(ALICE, 10000)])
    proposal = make_proposal(idao)
    for voters in ([DAVE], [CAROL, DAVE], [ALICE, DAVE], [BOB, MALLORY], [ALICE, BOB, CAROL, DAVE, MALLORY]):
        Ballot.objects.filter(proposal=proposal).delete()
        for i, p in enumerate(voters):
            vote(p, proposal, ("for", "against", "abstain")[i % 3])
        choice_of = dict(Ballot.objects.filter(proposal=proposal, counted=True).values_list("voter", "choice"))
        python = spec.adjusted_sums(sums={}, flows=delegation_flows(proposal), choice_of=choice_of)
        sql = {c: int(a) for c, a in _delegated_sums_sql(proposal.pk)}
        assert {c: a for c, a in python.items() if a} == sql, voters
