from __future__ import annotations

from datetime import timedelta

import pytest

from contributions.models import Contribution
from contributions.services import contribution_create, contribution_route
from ledger import owners
from ledger.selectors import balance
from quorums import services
from quorums.models import Bond, Round
from tests.personas import BOB
from tests.quorums.factories import member, setup_network, signed, staged


def new_contribution(idao, content: bytes = b"a,b\n1,2\n") -> Contribution:
    return contribution_create(
        idao_slug=idao.slug,
        owner=member(idao, BOB),
        upload=staged(content),
        kind="dataset",
        title="Readings",
        licence="CC0-1.0",
        usage_policy={"allowed_uses": ["training"]},
    )


def expire(round_id: int) -> Round:
    r = Round.objects.get(pk=round_id)
    Round.objects.filter(pk=r.pk).update(deadline=r.opened_at - timedelta(seconds=1))
    return services.round_close(round_id=r.pk)


@pytest.mark.django_db
def test_contribution_moves_uploaded_routed_in_review_accepted():
    idao, _quorum, ps = setup_network(3)
    c = new_contribution(idao)
    assert c.state == "uploaded"
    c = contribution_route(contribution_id=c.pk)
    assert c.state == "routed" and c.round.subject_ref == str(c.pk) and c.round.content_hash == c.sha256
    services.verdict_submit(round_id=c.round_id, **signed(ps[0], c.round))
    assert Contribution.objects.get(pk=c.pk).state == "in_review"
    for p in ps[1:]:
        services.verdict_submit(round_id=c.round_id, **signed(p, c.round))
    services.round_close(round_id=c.round_id)
    assert Contribution.objects.get(pk=c.pk).state == "accepted"


@pytest.mark.django_db
def test_rejected_round_rejects_the_contribution():
    idao, _quorum, ps = setup_network(3)
    c = contribution_route(contribution_id=new_contribution(idao).pk)
    for p in ps:
        services.verdict_submit(round_id=c.round_id, **signed(p, c.round, "reject", "labels are wrong"))
    services.round_close(round_id=c.round_id)
    assert Contribution.objects.get(pk=c.pk).state == "rejected"


@pytest.mark.django_db
def test_inconclusive_round_is_rerouted_once_then_the_contribution_expires():
    idao, _quorum, _ps = setup_network(3)
    c = contribution_route(contribution_id=new_contribution(idao).pk)
    first_round = c.round_id
    assert expire(first_round).outcome == "inconclusive"
    c.refresh_from_db()
    assert c.state == "uploaded" and c.attempts == 1
    c = contribution_route(contribution_id=c.pk)
    assert c.state == "routed" and c.round_id != first_round and c.round.attempt == 2
    assert expire(c.round_id).outcome == "inconclusive"
    assert Contribution.objects.get(pk=c.pk).state == "expired"


@pytest.mark.django_db
def test_routing_twice_opens_one_round():
    idao, _quorum, _ps = setup_network(3)
    c = new_contribution(idao)
    contribution_route(contribution_id=c.pk)
    contribution_route(contribution_id=c.pk)
    assert Round.objects.filter(subject_kind="contribution", subject_ref=str(c.pk)).count() == 1


@pytest.mark.django_db
def test_unbonded_laz_returns_only_after_the_delay():
    _idao, quorum, ps = setup_network(3)
    from portal.models import User

    user = User.objects.get(address=ps[0].address)
    bond = services.validator_unbond(quorum_id=quorum.pk, user=user, amount=400)
    assert services.unbonds_release_due() == 0
    Bond.objects.filter(pk=bond.pk).update(available_at=bond.created_at - timedelta(seconds=1))
    assert services.unbonds_release_due() == 1
    assert services.unbonds_release_due() == 0
    assert balance(owners.user(ps[0].address), "LAZ") == 400
    assert balance(owners.escrow(quorum.pk), "LAZ") == 2600


@pytest.mark.django_db
def test_an_upload_waiting_on_a_paused_quorum_says_the_quorum_is_paused():
    idao, quorum, _ps = setup_network(3)
    quorum.paused = True
    quorum.save(update_fields=["paused"])
    c = contribution_route(contribution_id=new_contribution(idao).pk)
    assert c.state == "uploaded"
    assert f"the quorum this iDAO trusts ({quorum.name}) is paused" in Contribution.objects.get(pk=c.pk).waiting_reason
