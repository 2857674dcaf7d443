"""The trust_quorum / drop_quorum actions quorums registers with idaos, through a real passed proposal."""

from __future__ import annotations

import pytest

from idaos.errors import InvalidInput
from portal.errors import DomainError
from quorums import selectors, services
from quorums.models import QuorumTrust
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_tally_and_close import close, vote
from tests.personas import ALICE, BOB, many
from tests.quorums.factories import PROBE, QuorumFactory, bonded

pytestmark = pytest.mark.django_db


def pass_(idao, kind, payload):
    proposal = make_proposal(idao, kind=kind, payload=payload)
    vote(ALICE, proposal, "for")
    return close(proposal)


def test_a_passed_trust_proposal_lets_the_vsc_route_to_the_quorum_and_a_drop_stops_it():
    idao = make_idao(members=[BOB])
    quorum = QuorumFactory(committee_size=2)
    for p in many(2, start=88_000):
        bonded(quorum, p)
    assert selectors.quorum_pick(idao_id=idao.pk) is None
    assert pass_(idao, "trust_quorum", {"quorum_id": quorum.pk}).state == "executed"
    assert QuorumTrust.objects.get(idao=idao, quorum=quorum).active
    assert services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="g", content_hash="0x" + "09" * 32)
    assert pass_(idao, "drop_quorum", {"quorum_id": quorum.pk}).state == "executed"
    assert not QuorumTrust.objects.get(idao=idao, quorum=quorum).active
    assert selectors.quorum_pick(idao_id=idao.pk) is None


def test_trust_proposal_for_an_unknown_quorum_is_refused_at_creation():
    idao = make_idao(members=[BOB])
    with pytest.raises((InvalidInput, DomainError)) as err:
        make_proposal(idao, kind="trust_quorum", payload={"quorum_id": 999_999})
    assert "999999" in str(err.value) or "quorum" in str(err.value).lower()
