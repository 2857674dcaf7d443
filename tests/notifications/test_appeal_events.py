"""Appeals and challenges tell the people they concern: a filed appeal reaches the iDAO's stewards
and the validators of the appealed round, and the panel hears it was drawn like any round; the
decision reaches the appellant with the outcome and what moved, and each slashed validator; a
challenge reaches the DAT's owner, and its decision the challenger and the owner."""

from __future__ import annotations

import pytest

from dats.services.challenges import challenge_file
from idaos.models import Membership
from notifications.kinds import resolve_recipients
from portal.models import Event
from quorums import services
from quorums.models import Validator
from tests.dats.test_challenges import _credit as credit_challenger
from tests.dats.test_challenges import _decide as decide_challenge
from tests.dats.test_challenges import _minted
from tests.personas import ALICE, BOB, MALLORY
from tests.quorums.factories import user_of
from tests.quorums.test_appeals import BOND, _credit, _rejected, _vote

pytestmark = pytest.mark.django_db


def only(kind: str) -> Event:
    (event,) = Event.objects.filter(kind=kind)
    return event


def users_of(validator_ids) -> list[int]:
    return sorted(Validator.objects.filter(pk__in=list(validator_ids)).values_list("user_id", flat=True))


def test_an_appeal_tells_stewards_and_first_validators_draws_the_panel_and_its_decision_tells_appellant_and_slashed():
    reasons = ("pii: 3 of 4 records", "pii: 3 of 4 records", "type_mismatch: the bytes are binary data")
    idao, _q, ps, _c, r, seated = _rejected(reasons)
    steward = user_of(ALICE)
    Membership.objects.create(idao=idao, user=steward, status="active", role="steward")
    _credit(BOB, BOND)
    Event.objects.all().delete()
    appeal = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="a plain CSV without personal data")

    filed = only("appeal.filed")
    first = users_of(r.seats.values_list("validator_id", flat=True))
    assert sorted(resolve_recipients(filed)) == sorted([steward.pk, *first])
    assert filed.payload["appeal"] == appeal.pk and filed.payload["bond"] == ["CREDIT", BOND]
    assert filed.subject == f"round:{r.pk}" and filed.payload["url"] == f"/rounds/{r.pk}/"
    drawn = Event.objects.filter(kind="validator.drawn", subject=f"round:{appeal.appeal_round_id}")
    panel = users_of(appeal.appeal_round.seats.values_list("validator_id", flat=True))
    assert len(panel) == 7 and sorted(uid for e in drawn for uid in resolve_recipients(e)) == panel
    assert all(e.payload["deadline"] == appeal.appeal_round.deadline.isoformat() for e in drawn)

    _vote(appeal.appeal_round, ps, ["approve"] * 7)
    decided = only("appeal.decided")
    assert sorted(resolve_recipients(decided)) == sorted([user_of(BOB).pk, user_of(seated[2]).pk])
    assert (decided.payload["state"], decided.payload["bond_to"], decided.payload["bounty"]) == (
        "overturned",
        "appellant",
        50,
    )
    assert decided.payload["bond"] == ["CREDIT", BOND] and decided.payload["slashes"] == [[seated[2].address, 100]]
    [slashed] = Event.objects.filter(kind="validator.slashed")
    assert resolve_recipients(slashed) == [user_of(seated[2]).pk] and slashed.payload["amount"] == "100"


def test_a_challenge_tells_the_owner_and_its_decision_tells_the_challenger_and_the_owner():
    _idao, ps, dat = _minted()
    credit_challenger(MALLORY, BOND)
    Event.objects.all().delete()
    challenge = challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="plagiarism", evidence="I wrote it")
    challenged = only("dat.challenged")
    assert resolve_recipients(challenged) == [user_of(BOB).pk] and challenged.subject == f"dat:{dat.pk}"
    assert challenged.payload["reason_code"] == "plagiarism" and challenged.payload["bond"] == ["CREDIT", BOND]
    assert Event.objects.filter(kind="validator.drawn", subject=f"round:{challenge.panel_round_id}").count() == 7

    decide_challenge(challenge.panel_round, ps, "approve")
    decided = only("dat.challenge_decided")
    assert sorted(resolve_recipients(decided)) == sorted([user_of(MALLORY).pk, user_of(BOB).pk])
    assert decided.payload["state"] == "dismissed" and decided.payload["bond"] == ["CREDIT", BOND]
