"""The services that change what people care about emit to the right people: the uploader hears
of routing (with the deadline), rejection (with reasons and the verdict tally) and acceptance (with
the DAT); validators of a quorum hear of its moderation, a validator of their slash; a grant tells
the grantee and the DAT owner; a transfer tells the old owner and the new one."""

from __future__ import annotations

import pytest

from contributions.services import contribution_route
from dats import services as dat_services
from notifications.kinds import resolve_recipients
from portal.models import Event
from quorums import services as quorum_services
from quorums.models import Validator
from tests.contributions.test_lifecycle import new_contribution
from tests.dats.factories import credit, make_idao, minted, token_for, user_owner
from tests.factories import user_of
from tests.personas import ALICE, BOB, CAROL, DAVE
from tests.quorums.factories import setup_network, signed

pytestmark = pytest.mark.django_db


def only(kind: str) -> Event:
    (event,) = Event.objects.filter(kind=kind)
    return event


def test_the_uploader_hears_routing_rejection_with_reasons_and_tally_and_acceptance_with_the_dat():
    idao, _quorum, ps = setup_network(3)
    bob = user_of(BOB)
    rejected = contribution_route(contribution_id=new_contribution(idao).pk)
    routed = only("contribution.routed")
    assert resolve_recipients(routed) == [bob.pk]
    assert routed.payload["deadline"] == rejected.round.deadline.isoformat()
    for p in ps:
        quorum_services.verdict_submit(round_id=rejected.round_id, **signed(p, rejected.round, "reject", "labels off"))
    quorum_services.round_close(round_id=rejected.round_id)
    event = only("contribution.rejected")
    assert resolve_recipients(event) == [bob.pk]
    assert event.payload["reasons"] == [["reject", "labels off"]] * 3
    rejected.round.refresh_from_db()
    assert event.payload["tally"] == rejected.round.tally and event.payload["tally"]

    accepted = contribution_route(contribution_id=new_contribution(idao, b"a,b\n3,4\n").pk)
    for p in ps:
        quorum_services.verdict_submit(round_id=accepted.round_id, **signed(p, accepted.round))
    quorum_services.round_close(round_id=accepted.round_id)
    event = only("contribution.accepted")
    assert (
        resolve_recipients(event) == [bob.pk]
        and event.payload["dat"]
        and event.subject == f"dat:{event.payload['dat']}"
    )


def test_moderation_reaches_the_quorums_validators_and_a_slash_reaches_the_validator():
    _idao, quorum, ps = setup_network(3)
    staff = user_of(DAVE)
    staff.is_staff = True
    staff.save()
    quorum_services.quorum_set_paused(actor=staff, quorum_id=quorum.pk, paused=True, reason="incident")
    validators = sorted(Validator.objects.filter(quorum=quorum).values_list("user_id", flat=True))
    assert sorted(resolve_recipients(only("quorum.moderation"))) == validators
    accused = Validator.objects.get(quorum=quorum, address=ps[0].address)
    case = quorum_services.fraud_case_open(actor=staff, validator_id=accused.pk, allegation="copied verdicts")
    quorum_services.fraud_case_decide(actor=staff, case_id=case.pk, slash=True, reason="proven", rate_bps=1000)
    assert resolve_recipients(only("validator.slashed")) == [accused.user_id]


def test_a_grant_tells_the_grantee_and_the_owner_and_a_transfer_tells_both_owners():
    idao = make_idao(ALICE, slug="emitters")
    dat = minted(idao, BOB, policy={"allowed_uses": ["training"], "price": 10})
    _raw, token = token_for(CAROL)
    credit(user_owner(CAROL), 10)
    dat_services.access_request(dat_id=dat.pk, token=token, use="training", idempotency_key="k")
    assert sorted(resolve_recipients(only("dat.access_granted"))) == sorted([user_of(CAROL).pk, user_of(BOB).pk])
    dat_services.dat_transfer(dat_id=dat.pk, actor=user_of(BOB), to_address=DAVE.address)
    assert sorted(resolve_recipients(only("dat.transferred"))) == sorted([user_of(BOB).pk, user_of(DAVE).pk])
