from __future__ import annotations

import pytest

from idaos.models import Membership
from idaos.services import membership, proposals
from portal.errors import DomainError
from tests.idaos.conftest import make_idao, make_proposal, user_of
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def test_last_steward_cannot_leave_while_members_remain_but_can_after_naming_another():
    idao = make_idao(members=[BOB])
    with pytest.raises(DomainError) as exc:
        membership.membership_leave(idao=idao, user=user_of(ALICE))
    assert exc.value.code == "last_steward"
    bob_membership = Membership.objects.get(idao=idao, user__address=BOB.address, status="active")
    membership.membership_set_role(idao=idao, steward=user_of(ALICE), membership_id=bob_membership.pk, role="steward")
    membership.membership_leave(idao=idao, user=user_of(ALICE))
    assert Membership.objects.get(idao=idao, user__address=ALICE.address).status == "left"
    membership.membership_join(idao=idao, user=user_of(ALICE))  # history kept, a new membership row
    assert Membership.objects.filter(idao=idao, user__address=ALICE.address).count() == 2


@pytest.mark.parametrize("policy", ["open", "approval"])
def test_sole_steward_can_neither_step_down_nor_leave_even_with_only_pending_requests(policy):
    idao = make_idao(membership_policy=policy)
    if policy == "approval":
        membership.membership_join(idao=idao, user=user_of(BOB))  # a request only a steward can decide
    own = Membership.objects.get(idao=idao, user__address=ALICE.address, status="active")
    with pytest.raises(DomainError) as exc:
        membership.membership_set_role(idao=idao, steward=user_of(ALICE), membership_id=own.pk, role="member")
    assert exc.value.code == "last_steward" and exc.value.status == 409
    with pytest.raises(DomainError) as exc:
        membership.membership_leave(idao=idao, user=user_of(ALICE))
    assert exc.value.code == "last_steward"
    own.refresh_from_db()
    assert own.role == "steward" and own.status == "active"


def test_denied_request_can_be_made_again_and_only_stewards_decide():
    idao = make_idao(membership_policy="approval")
    request = membership.membership_join(idao=idao, user=user_of(BOB))
    with pytest.raises(DomainError) as exc:
        membership.membership_decide(idao=idao, steward=user_of(CAROL), membership_id=request.pk, approve=True)
    assert exc.value.code == "not_steward"
    membership.membership_decide(idao=idao, steward=user_of(ALICE), membership_id=request.pk, approve=False)
    with pytest.raises(DomainError) as exc:
        membership.membership_decide(idao=idao, steward=user_of(ALICE), membership_id=request.pk, approve=True)
    assert exc.value.code == "not_pending"
    assert membership.membership_join(idao=idao, user=user_of(BOB)).status == "pending"


def test_draft_is_submitted_by_its_author_only_and_then_opens():
    idao = make_idao(members=[BOB])
    draft = proposals.proposal_create(idao=idao, author=user_of(BOB), kind="signal", title="Later", submit=False)
    assert draft.state == "draft" and draft.voting_ends_at is None
    with pytest.raises(DomainError) as exc:
        proposals.proposal_submit(proposal_id=draft.pk, author=user_of(ALICE))
    assert exc.value.code == "not_author"
    submitted = proposals.proposal_submit(proposal_id=draft.pk, author=user_of(BOB))
    assert submitted.state == "active" and submitted.voting_powers.count() == 2


def test_snapshot_copies_the_charter_so_a_charter_change_does_not_move_a_running_vote():
    idao = make_idao(members=[BOB], quorum_bps=1000)
    p = make_proposal(idao)
    idao.quorum_bps = 9000
    idao.save()
    p.refresh_from_db()
    assert p.quorum_bps == 1000
