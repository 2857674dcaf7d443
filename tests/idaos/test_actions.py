"""Each action kind executed end to end: the proposal passes, closes, and the state really changes."""

from __future__ import annotations

import pytest

from idaos import hooks
from idaos.errors import InvalidInput
from idaos.models import AIModel, ManifestEntry
from idaos.services import assets, proposals
from portal.errors import DomainError
from tests.idaos.conftest import make_idao, make_proposal, user_of
from tests.idaos.test_tally_and_close import close, vote
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

H1, H2, H3 = ("0x" + c * 64 for c in "abc")


@pytest.fixture(autouse=True)
def own_registries(monkeypatch):
    """These tests exercise idaos alone: the registries start empty whatever apps are installed."""
    monkeypatch.setattr(hooks, "_data_ref_checkers", [])
    monkeypatch.setattr(hooks, "_actions", {})


def pass_(idao, kind, payload):
    proposal = make_proposal(idao, kind=kind, payload=payload)
    vote(ALICE, proposal, "for")
    return close(proposal)


@pytest.fixture
def idao_with_model():
    idao = make_idao(members=[BOB])
    model = assets.aimodel_register(idao=idao, steward=user_of(ALICE), name="triage", artifact_hash=H1, manifest=[H2])
    return idao, model


def manifest(model: AIModel) -> list[str]:
    return sorted(model.current_version.manifest.values_list("data_ref", flat=True))


def test_include_data_adds_to_the_manifest(idao_with_model):
    idao, model = idao_with_model
    p = pass_(idao, "include_data", {"model_id": model.pk, "data_refs": [H3, "dat:42"]})
    assert p.state == "executed"
    assert manifest(model) == sorted([H2, H3, "dat:42"])
    assert ManifestEntry.objects.get(data_ref=H3).added_by_proposal_id == p.pk


def test_remove_data_removes_from_the_manifest(idao_with_model):
    idao, model = idao_with_model
    assert pass_(idao, "remove_data", {"model_id": model.pk, "data_refs": [H2]}).state == "executed"
    assert manifest(model) == []


def test_approve_model_update_creates_current_version_with_inherited_manifest(idao_with_model):
    idao, model = idao_with_model
    assert pass_(idao, "approve_model_update", {"model_id": model.pk, "artifact_hash": H3}).state == "executed"
    current = model.current_version
    assert (current.number, current.artifact_hash) == (2, H3)
    assert manifest(model) == [H2]
    assert model.versions.filter(current=True).count() == 1


def test_change_agent_policy_replaces_policy_and_keeps_history():
    idao = make_idao(members=[BOB])
    agent = assets.agent_register(idao=idao, steward=user_of(ALICE), name="helper", behaviour_policy={"tone": "calm"})
    assert (
        pass_(idao, "change_agent_policy", {"agent_id": agent.pk, "behaviour_policy": {"tone": "brief"}}).state
        == "executed"
    )
    agent.refresh_from_db()
    assert agent.behaviour_policy == {"tone": "brief"}
    assert list(agent.versions.values_list("number", flat=True)) == [2, 1]


def test_change_charter_changes_the_charter():
    idao = make_idao(members=[BOB])
    changes = {
        "quorum_bps": 3000,
        "voting_period": 7200,
        "split_contributors_bps": 6000,
        "split_treasury_bps": 3000,
        "split_validators_bps": 1000,
    }
    assert pass_(idao, "change_charter", {"changes": changes}).state == "executed"
    idao.refresh_from_db()
    assert idao.quorum_bps == 3000 and idao.voting_period.total_seconds() == 7200 and idao.split_treasury_bps == 3000


def test_charter_change_with_bad_split_is_refused_at_creation():
    idao = make_idao(members=[BOB])
    with pytest.raises(InvalidInput, match="sum to 10000"):
        make_proposal(idao, kind="change_charter", payload={"changes": {"split_treasury_bps": 5000}})


def test_downstream_action_kind_is_delegated_to_the_registry():
    executed = []
    hooks.register_action(
        "trust_quorum",
        validate=lambda idao, payload: {"quorum_id": int(payload["quorum_id"])},
        execute=lambda proposal, payload: executed.append(payload) or {"trusted": payload["quorum_id"]},
        describe=lambda payload: f"Trust quorum {payload['quorum_id']}.",
    )
    try:
        idao = make_idao(members=[BOB])
        p = pass_(idao, "trust_quorum", {"quorum_id": 7})
        assert p.state == "executed" and executed == [{"quorum_id": 7}] and p.execution_result == {"trusted": 7}
    finally:
        hooks._actions.pop("trust_quorum", None)  # restored by own_registries anyway


def test_unknown_kind_is_refused():
    idao = make_idao(members=[BOB])
    with pytest.raises(InvalidInput) as exc:
        make_proposal(idao, kind="mint_everything", payload={})
    assert exc.value.code == "unknown_kind"


def test_failed_execution_is_recorded_anchored_and_rolled_back(idao_with_model):
    idao, model = idao_with_model
    calls = []

    def checker(idao_, ref, purpose):
        calls.append(ref)
        if len(calls) > 1:  # allowed at creation, refused at execution (e.g. the DAT was revoked)
            raise DomainError("This DAT no longer allows training.", code="dat_revoked", status=409)

    hooks.register_data_ref_checker(checker)
    try:
        p = pass_(idao, "include_data", {"model_id": model.pk, "data_refs": ["dat:9"]})
    finally:
        hooks._data_ref_checkers.remove(checker)
    assert p.state == "execution_failed" and "dat_revoked" in p.execution_error
    assert p.execution_leaf_id is not None
    assert manifest(model) == [H2]


def test_data_ref_checker_refuses_at_creation(idao_with_model):
    idao, model = idao_with_model

    def checker(idao_, ref, purpose):
        raise DomainError(f"{ref} does not allow {purpose}.", code="dat_policy", status=422)

    hooks.register_data_ref_checker(checker)
    try:
        with pytest.raises(DomainError) as exc:
            make_proposal(idao, kind="include_data", payload={"model_id": model.pk, "data_refs": ["dat:1"]})
    finally:
        hooks._data_ref_checkers.remove(checker)
    assert exc.value.code == "dat_policy"


@pytest.mark.parametrize(
    "payload",
    [{}, {"model_id": 999999, "data_refs": [H1]}, {"data_refs": "x"}, {"model_id": 1, "data_refs": ["nothash"]}],
)
def test_malformed_include_payload_is_refused(idao_with_model, payload):
    idao, _ = idao_with_model
    with pytest.raises(InvalidInput):
        make_proposal(idao, kind="include_data", payload=payload)


def test_cancel_only_before_any_vote():
    idao = make_idao(members=[BOB])
    p = make_proposal(idao)
    proposals.proposal_cancel(proposal_id=p.pk, author=user_of(ALICE))
    p.refresh_from_db()
    assert p.state == "cancelled"
    p2 = make_proposal(idao, title="second")
    vote(BOB, p2, "for")
    with pytest.raises(DomainError) as exc:
        proposals.proposal_cancel(proposal_id=p2.pk, author=user_of(ALICE))
    assert exc.value.code == "has_votes"
