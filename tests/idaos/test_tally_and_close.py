"""Tallies under each rule (hand-computed), quorum/threshold edges, snapshots, idempotent closing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from idaos.models import Proposal
from idaos.services import ballots, proposals
from ledger import owners
from ledger import services as ledger_services
from ledger.models import Leaf
from tests.idaos.conftest import ballot, fund, make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL, DAVE

pytestmark = pytest.mark.django_db


def vote(p, proposal, choice):
    body = ballot(p, proposal, choice)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def close(proposal) -> Proposal:
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    proposal.refresh_from_db()
    return proposal


def test_one_member_one_vote_tally():
    idao = make_idao(members=[BOB, CAROL, DAVE], quorum_bps=5000, approval_threshold_bps=5000)
    proposal = make_proposal(idao)
    vote(ALICE, proposal, "for")
    vote(BOB, proposal, "against")
    vote(CAROL, proposal, "abstain")
    p = close(proposal)
    # 3 of 4 voted (7500 bps >= 5000); for/(for+against) = 1/2 = exactly the 5000 bps threshold
    assert p.tally["for"] == "1" and p.tally["against"] == "1" and p.tally["abstain"] == "1"
    assert p.tally["eligible"] == "4" and p.tally["participation_bps"] == 7500
    assert p.state == "executed"  # passed at exactly the threshold, then the signal executed


def test_stake_weighted_tally_reads_snapshot_balances():
    fund(ALICE, 600)
    fund(BOB, 300)
    fund(CAROL, 100)
    idao = make_idao(members=[BOB, CAROL], voting_rule="stake_weighted", quorum_bps=4000, approval_threshold_bps=6667)
    proposal = make_proposal(idao)
    # LAZ moved after activation does not count: carol buys a lot, bob gives his away
    fund(CAROL, 10_000)
    ledger_services.transfer(
        source=owners.user(BOB.address),
        destination=owners.user(ALICE.address),
        asset="LAZ",
        amount=300,
        kind="transfer",
        idempotency_key="t:bob-alice",
    )
    vote(BOB, proposal, "for")  # 300
    vote(CAROL, proposal, "against")  # 100
    p = close(proposal)
    # cast 400 of 1000 = 4000 bps quorum exactly; approval 300/400 = 7500 bps >= 6667
    assert (p.tally["for"], p.tally["against"], p.tally["eligible"]) == ("300", "100", "1000")
    assert p.tally["quorum_reached"] and p.state == "executed"


def test_quadratic_tally_uses_square_roots():
    fund(ALICE, 100)  # 10
    fund(BOB, 81)  # 9
    fund(CAROL, 17)  # 4
    idao = make_idao(members=[BOB, CAROL], voting_rule="quadratic", quorum_bps=0, approval_threshold_bps=5000)
    proposal = make_proposal(idao)
    vote(ALICE, proposal, "against")
    vote(BOB, proposal, "for")
    vote(CAROL, proposal, "for")
    p = close(proposal)
    assert (p.tally["for"], p.tally["against"], p.tally["eligible"]) == ("13", "10", "23")
    assert p.state == "executed"


def test_quorum_one_short_is_not_met_and_exact_quorum_is_met():
    idao = make_idao(members=[BOB, CAROL, DAVE], quorum_bps=5001)
    proposal = make_proposal(idao)
    vote(ALICE, proposal, "for")
    vote(BOB, proposal, "for")  # 2 of 4 = 5000 bps < 5001
    assert close(proposal).state == "quorum_not_met"

    idao2 = make_idao(members=[BOB, CAROL, DAVE], quorum_bps=5000, slug="exact")
    p2 = make_proposal(idao2)
    vote(ALICE, p2, "for")
    vote(BOB, p2, "for")
    assert close(p2).state == "executed"


def test_just_below_threshold_is_rejected():
    idao = make_idao(members=[BOB, CAROL], approval_threshold_bps=6667)
    proposal = make_proposal(idao)
    vote(ALICE, proposal, "for")
    vote(BOB, proposal, "for")
    vote(CAROL, proposal, "against")  # 2/3 = 6666.6 bps < 6667
    p = close(proposal)
    assert p.state == "rejected" and p.execution_leaf_id is None


def test_changed_vote_counts_once_with_latest_choice():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    now = int(time.time())
    for ts, choice in ((now, "for"), (now + 1, "against"), (now + 2, "for")):
        body = ballot(BOB, proposal, choice, ts=ts)
        ballots.ballot_cast(
            proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(BOB)
        )
    p = close(proposal)
    assert p.tally["for"] == "1" and p.tally["voters"] == 1 and p.ballots.count() == 3


def test_closing_twice_yields_one_result_one_execution_one_anchor():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    vote(BOB, proposal, "for")
    p = close(proposal)
    assert not proposals.proposal_close(proposal_id=p.pk, now=p.voting_ends_at + timedelta(hours=1))
    p2 = Proposal.objects.get(pk=p.pk)
    assert p2.state == "executed" and p2.tally == p.tally
    assert Leaf.objects.filter(subject=f"proposal:{p.pk}", kind="idao.proposal.result").count() == 1
    assert Leaf.objects.filter(subject=f"proposal:{p.pk}", kind="idao.proposal.execution").count() == 1


def test_closing_before_the_deadline_does_nothing():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    assert not proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at - timedelta(seconds=1))
    proposal.refresh_from_db()
    assert proposal.state == "active"


def test_result_anchor_commits_to_merkle_root_of_counted_ballots():
    import json

    from idaos import tally

    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    b1 = vote(BOB, proposal, "for")
    b2 = vote(CAROL, proposal, "against")
    p = close(proposal)
    expected = tally.ballots_root(sorted([(b1.voter, b1.digest, 1), (b2.voter, b2.digest, 1)]))
    assert p.ballots_root == expected
    leaf = Leaf.objects.get(pk=p.result_leaf_id)
    assert json.loads(leaf.payload_json)["ballots_root"] == expected


def test_activation_after_delay_snapshots_members_then():
    idao = make_idao(members=[BOB], voting_delay=600)
    proposal = make_proposal(idao)
    assert proposal.state == "pending"
    from idaos.services.membership import membership_join

    membership_join(idao=idao, user=user_of(CAROL))  # joins during the delay: counted
    assert not proposals.proposal_activate(
        proposal_id=proposal.pk, now=proposal.voting_starts_at - timedelta(seconds=1)
    )
    assert proposals.proposal_activate(proposal_id=proposal.pk, now=proposal.voting_starts_at)
    assert not proposals.proposal_activate(proposal_id=proposal.pk, now=proposal.voting_starts_at)
    proposal.refresh_from_db()
    assert proposal.state == "active"
    assert sorted(proposal.voting_powers.values_list("voter", flat=True)) == sorted(
        [ALICE.address, BOB.address, CAROL.address]
    )
