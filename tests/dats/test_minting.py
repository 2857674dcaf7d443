"""Minting: one DAT per accepted round (even under concurrent hooks), none for rejected rounds,
parents that exist and form no cycle, policy changes within the charter and transfers, anchored."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from dats import services as dat_services
from dats.lineage import LineageCycle, UnknownParent
from dats.models import DAT, DatEvent, PolicyBounds
from dats.policies import OutsideCharter
from dats.services import dat_mint, lineage_declare
from dats.services.minting import RoundNotAccepted
from dats.services.owner_actions import InvalidTransfer, NotOwner
from ledger.models import Leaf
from quorums import hooks
from tests.dats.factories import closed_round, make_contribution, make_idao, minted, user_of
from tests.personas import ALICE, BOB, CAROL


@pytest.mark.django_db
def test_accepted_round_mints_one_dat_with_hashes_policy_round_and_anchor():
    idao = make_idao(ALICE)
    c = make_contribution(
        idao, BOB, policy={"allowed_uses": ["training", "evaluation"], "price": 7, "quota": 3, "expiry_days": 30}
    )
    r = closed_round(c)
    dat = dat_mint(round_id=r.pk)
    assert (dat.klass, dat.owner.address, dat.idao_id, dat.round_id, dat.contribution_id) == (
        "dataset",
        BOB.address,
        idao.pk,
        r.pk,
        c.pk,
    )
    assert (dat.sha256, dat.keccak256, dat.size) == (c.sha256, c.keccak256, c.size)
    assert (dat.allowed_uses, dat.price_credit, dat.quota) == (["training", "evaluation"], 7, 3)
    assert dat.expires_at is not None
    leaf = Leaf.objects.get(pk=dat.anchor_leaf_id)
    record = json.loads(leaf.payload_json)
    assert (leaf.kind, leaf.subject) == ("dat.mint", f"dat:{dat.pk}")
    assert (
        record["round"] == r.pk and record["roundAnchorLeafId"] == r.anchor_leaf_id and record["outcome"] == "accepted"
    )
    assert record["sha256"] == c.sha256 and record["owner"] == BOB.address and record["parents"] == []


@pytest.mark.django_db
def test_minting_again_for_the_same_round_returns_the_first_dat():
    c = make_contribution(make_idao(ALICE), BOB)
    r = closed_round(c)
    assert dat_mint(round_id=r.pk).pk == dat_mint(round_id=r.pk).pk
    assert DAT.objects.count() == 1


@pytest.mark.django_db
def test_the_database_itself_refuses_a_second_dat_for_one_round():
    dat = minted(make_idao(ALICE), BOB)
    other = make_contribution(dat.idao, BOB)
    with pytest.raises(IntegrityError), transaction.atomic():
        DAT.objects.create(
            klass="dataset",
            title="again",
            owner=dat.owner,
            idao=dat.idao,
            contribution=other,
            round=dat.round,
            sha256=other.sha256,
            keccak256=other.keccak256,
            size=1,
            anchor_leaf_id=0,
        )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_mint_hooks_for_one_round_make_exactly_one_dat():
    assert connection.vendor == "postgresql"
    c = make_contribution(make_idao(ALICE), BOB)
    r = closed_round(c)
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait()
            with transaction.atomic():
                hooks.run_closed(
                    [type(r).objects.get(pk=r.pk)]
                )  # the on_rounds_accepted hooks, as round_close runs them
                results.append(DAT.objects.get(round_id=r.pk).pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert DAT.objects.filter(round_id=r.pk).count() == 1
    assert len(set(results)) == 1
    assert Leaf.objects.filter(kind="dat.mint").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", ["rejected", "inconclusive"])
def test_a_round_that_was_not_accepted_mints_no_dat(outcome):
    c = make_contribution(make_idao(ALICE), BOB)
    r = closed_round(c, outcome=outcome)
    with transaction.atomic():
        hooks.run_closed([r])
    assert not DAT.objects.exists()
    with pytest.raises(RoundNotAccepted):
        dat_mint(round_id=r.pk)
    assert not DAT.objects.exists()


@pytest.mark.django_db
def test_the_real_validation_flow_mints_in_the_rounds_closing_transaction():
    from contributions.services import contribution_create, contribution_route
    from quorums import services
    from tests.quorums.factories import member, setup_network, signed, staged

    idao, _quorum, validators = setup_network(3)
    member(idao, BOB)
    c = contribution_create(
        idao_slug=idao.slug,
        owner=user_of(BOB),
        upload=staged(b"a,b\n1,2\n"),
        kind="dataset",
        title="Trial data",
        licence="CC-BY-4.0",
        usage_policy={"allowed_uses": ["training"]},
    )
    r = contribution_route(contribution_id=c.pk).round
    for p in validators:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    closed = services.round_close(round_id=r.pk)
    dat = DAT.objects.get(round=closed)
    assert dat.contribution_id == c.pk and dat.sha256 == c.sha256
    assert dat.anchor_leaf_id > closed.anchor_leaf_id  # anchored right after the round, same transaction
    c.refresh_from_db()
    assert c.state == "accepted"


@pytest.mark.django_db
def test_a_parent_must_exist():
    c = make_contribution(make_idao(ALICE), BOB)
    with pytest.raises(UnknownParent, match="#999"):
        lineage_declare(contribution_id=c.pk, parent_ids=[999])


@pytest.mark.django_db
def test_declared_parents_become_the_lineage_of_the_minted_dat():
    idao = make_idao(ALICE)
    data, base = minted(idao, BOB), minted(idao, CAROL, kind="model_weights")
    update = minted(idao, BOB, kind="model_update", parents=[data, base])
    assert update.klass == "model"
    assert sorted(update.parents.values_list("pk", flat=True)) == sorted([data.pk, base.pk])
    assert json.loads(Leaf.objects.get(pk=update.anchor_leaf_id).payload_json)["parents"] == sorted([data.pk, base.pk])


@pytest.mark.django_db
def test_parents_that_would_close_a_cycle_are_refused():
    idao = make_idao(ALICE)
    a = minted(idao, BOB)
    b = minted(idao, BOB, parents=[a])
    c = minted(idao, BOB, parents=[b])
    with pytest.raises(LineageCycle):
        dat_services.dat_parents_add(dat_id=a.pk, actor=user_of(BOB), parent_ids=[c.pk])
    with pytest.raises(LineageCycle):
        dat_services.dat_parents_add(dat_id=a.pk, actor=user_of(BOB), parent_ids=[a.pk])
    assert list(a.parents.all()) == []
    other = minted(idao, BOB)
    event = dat_services.dat_parents_add(dat_id=c.pk, actor=user_of(BOB), parent_ids=[other.pk])
    assert event.payload["parents"] == sorted([b.pk, other.pk])


@pytest.mark.django_db
def test_policy_changes_stay_within_the_charter_and_are_anchored_with_history():
    idao = make_idao(ALICE)
    PolicyBounds.objects.create(
        idao=idao, allowed_uses=["training", "inference", "evaluation"], min_price_credit=5, max_price_credit=100
    )
    dat = minted(idao, BOB, policy={"allowed_uses": ["training"], "price": 10})
    with pytest.raises(OutsideCharter, match="commercial"):
        dat_services.dat_policy_change(
            dat_id=dat.pk, actor=user_of(BOB), changes={"allowed_uses": ["training", "commercial"]}
        )
    with pytest.raises(OutsideCharter, match="minimum price of 5"):
        dat_services.dat_policy_change(dat_id=dat.pk, actor=user_of(BOB), changes={"price_credit": 1})
    with pytest.raises(NotOwner):
        dat_services.dat_policy_change(dat_id=dat.pk, actor=user_of(CAROL), changes={"price_credit": 20})
    event = dat_services.dat_policy_change(
        dat_id=dat.pk, actor=user_of(BOB), changes={"allowed_uses": ["inference"], "price_credit": 20}
    )
    dat.refresh_from_db()
    assert (dat.allowed_uses, dat.price_credit, dat.policy_version) == (["inference"], 20, 2)
    leaf = Leaf.objects.get(pk=event.anchor_leaf_id)
    assert (leaf.kind, leaf.subject) == ("dat.event", f"dat:{dat.pk}:1")
    assert json.loads(leaf.payload_json)["policy"]["allowed_uses"] == ["inference"]
    dat_services.dat_revoke(dat_id=dat.pk, actor=user_of(BOB))
    assert list(DatEvent.objects.filter(dat=dat).values_list("seq", "kind")) == [(1, "policy"), (2, "policy")]


@pytest.mark.django_db
def test_minting_brings_the_requested_policy_inside_the_charter():
    idao = make_idao(ALICE)
    PolicyBounds.objects.create(idao=idao, allowed_uses=["training"], min_price_credit=5)
    dat = minted(idao, BOB, policy={"allowed_uses": ["training", "commercial"], "price": 1})
    assert (dat.allowed_uses, dat.price_credit) == (["training"], 5)


@pytest.mark.django_db
def test_transfer_changes_the_owner_and_is_anchored():
    dat = minted(make_idao(ALICE), BOB)
    with pytest.raises(NotOwner):
        dat_services.dat_transfer(dat_id=dat.pk, actor=user_of(CAROL), to_address=CAROL.address)
    with pytest.raises(InvalidTransfer):
        dat_services.dat_transfer(dat_id=dat.pk, actor=user_of(BOB), to_address="0x123")
    event = dat_services.dat_transfer(dat_id=dat.pk, actor=user_of(BOB), to_address=CAROL.address.lower())
    dat.refresh_from_db()
    assert dat.owner.address == CAROL.address
    assert event.payload["from"] == BOB.address and event.payload["to"] == CAROL.address
    assert Leaf.objects.filter(pk=event.anchor_leaf_id, kind="dat.event").exists()


@pytest.mark.django_db
def test_contributor_declares_parents_through_the_api_before_minting(signed_in):
    idao = make_idao(ALICE)
    parent = minted(idao, CAROL)
    c = make_contribution(idao, BOB)
    url = f"/api/v1/contributions/{c.public_id}/parents"
    assert signed_in(CAROL).post(url, {"parents": [parent.pk]}, content_type="application/json").status_code == 404
    missing = signed_in(BOB).post(url, {"parents": [parent.pk + 1000]}, content_type="application/json")
    assert (missing.status_code, missing.json()["error"]) == (422, "unknown_parent")
    assert signed_in(BOB).post(url, {"parents": [parent.pk]}, content_type="application/json").status_code == 200
    dat = dat_mint(round_id=closed_round(c).pk)
    assert list(dat.parents.values_list("pk", flat=True)) == [parent.pk]


@pytest.mark.django_db
def test_a_passed_proposal_sets_the_charter_bounds_of_dat_policies():
    from idaos.hooks import action_handler
    from idaos.services import actions

    idao = make_idao(ALICE)
    payload = actions.validate(
        idao, dat_services.BOUNDS_ACTION, {"allowed_uses": ["training", "evaluation"], "min_price_credit": 2}
    )
    assert payload == {"allowed_uses": ["training", "evaluation"], "min_price_credit": 2, "max_price_credit": None}
    proposal = type("P", (), {"idao": idao})()
    action_handler(dat_services.BOUNDS_ACTION).execute(proposal, payload)
    assert PolicyBounds.objects.get(idao=idao).allowed_uses == ["training", "evaluation"]
    assert "at least 2 CREDIT" in action_handler(dat_services.BOUNDS_ACTION).describe(payload)
