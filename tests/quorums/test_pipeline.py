"""End to end through the real broker and a real Celery worker (in-process thread, solo pool)."""

from __future__ import annotations

import io

import pytest
from django.db import transaction

from contributions.models import Contribution
from contributions.services import contribution_create, contributions_route_queued
from ledger.proofs import verify_proof
from ledger.selectors import proof_bundle
from ledger.services import block_seal
from portal.celery import app
from portal.models import ParkedTask
from quorums import services
from quorums.models import Round, Slash
from quorums.tasks import round_close_task, rounds_close_task, sweep
from tests.celery_helpers import BROKERS, queued, wait_for
from tests.personas import BOB
from tests.quorums.factories import PROBE, closed_hook, member, setup_network, signed, staged, user_of

pytestmark = pytest.mark.django_db(transaction=True)


def upload(client, idao, content: bytes = b"id,label\n1,cat\n2,dog\n") -> dict:
    f = io.BytesIO(content)
    f.name = "labels.csv"
    r = client.post(
        "/api/v1/contributions/upload",
        {
            "idao": idao.slug,
            "kind": "dataset",
            "title": "Labels",
            "licence": "CC-BY-4.0",
            "allowed_uses": ["training"],
            "file": f,
        },
    )
    assert r.status_code == 201, r.content
    return r.json()


def test_upload_is_routed_signed_by_three_validators_accepted_and_anchored_with_a_verifiable_proof(
    broker, celery_worker, signed_in
):
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    body = upload(signed_in(BOB), idao)
    c = wait_for(lambda: Contribution.objects.filter(public_id=body["id"], state="routed").first())
    r = c.round
    for p in ps:
        client = signed_in(p)
        assigned = client.get("/api/v1/validator/assignments").json()
        assert [a["round"] for a in assigned] == [r.pk]
        resp = client.post(f"/api/v1/rounds/{r.pk}/verdicts", signed(p, r), content_type="application/json")
        assert resp.status_code == 201, resp.content
    c = wait_for(lambda: Contribution.objects.filter(pk=c.pk, state="accepted").first())
    r.refresh_from_db()
    assert (r.state, r.outcome, r.close_reason) == ("closed", "accepted", "threshold")
    block_seal()
    bundle = proof_bundle(r.anchor_leaf_id)
    assert verify_proof(bundle)
    assert signed_in(BOB).get(f"/api/v1/rounds/{r.pk}").json()["proof"] == f"/ledger/proofs/{r.anchor_leaf_id}.json"


def test_a_rolled_back_upload_enqueues_nothing(broker):
    idao, _quorum, _ps = setup_network(3)
    bob = member(idao, BOB)
    before = queued(broker)
    with pytest.raises(RuntimeError), transaction.atomic():
        contribution_create(
            idao_slug=idao.slug,
            owner=bob,
            upload=staged(b"a,b\n"),
            kind="dataset",
            title="T",
            licence="MIT",
            usage_policy={"allowed_uses": ["training"]},
        )
        raise RuntimeError("the surrounding request failed")
    assert queued(broker) == before and not Contribution.objects.exists()
    contribution_create(
        idao_slug=idao.slug,
        owner=bob,
        upload=staged(b"a,b\n"),
        kind="dataset",
        title="T",
        licence="MIT",
        usage_policy={"allowed_uses": ["training"]},
    )
    assert queued(broker) == before + 1  # the committed one is enqueued, after commit


def _record(bob, idao, i: int) -> Contribution:
    return contribution_create(
        idao_slug=idao.slug,
        owner=bob,
        upload=staged(f"a,b\n{i},2\n".encode()),
        kind="dataset",
        title=f"T{i}",
        licence="MIT",
        usage_policy={"allowed_uses": ["training"]},
    )


def test_a_burst_of_uploads_queues_one_routing_task_and_it_routes_them_all(broker):
    idao, _quorum, _ps = setup_network(3)
    bob = member(idao, BOB)
    before = queued(broker)
    made = [_record(bob, idao, i) for i in range(3)]
    assert queued(broker) == before + 1  # the later uploads found a routing task queued
    assert contributions_route_queued(contribution_id=made[0].pk) == 3
    assert set(Contribution.objects.values_list("state", flat=True)) == {"routed"}
    _record(bob, idao, 3)  # the queued task has started: the next upload queues its own
    assert queued(broker) == before + 2


def test_a_full_routing_batch_queues_the_next_one(broker):
    idao, _quorum, _ps = setup_network(3)
    bob = member(idao, BOB)
    made = [_record(bob, idao, i) for i in range(3)]
    before = queued(broker)
    assert contributions_route_queued(contribution_id=made[0].pk, limit=2) == 2
    assert queued(broker) == before + 1
    assert contributions_route_queued(contribution_id=made[0].pk, limit=2) == 1  # what that task does
    assert queued(broker) == before + 1  # a batch that was not full queues nothing
    assert set(Contribution.objects.values_list("state", flat=True)) == {"routed"}


def test_tasks_use_late_acknowledgement_and_requeue_on_worker_loss():
    for task in (round_close_task, rounds_close_task, sweep, app.tasks["contributions.tasks.contribution_route_task"]):
        assert task.acks_late and task.reject_on_worker_lost
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


@pytest.mark.parametrize("broker_kind", BROKERS)
def test_a_close_task_delivered_twice_is_a_no_op(broker, celery_worker):
    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="1", content_hash="0x" + "11" * 32)
    # The dissent first: the third approval makes the round decisive and the worker may close it at once.
    for p, verdict in zip(ps, ["reject", "approve", "approve", "approve"], strict=True):
        services.verdict_submit(round_id=r.pk, **signed(p, r, verdict, "no" if verdict == "reject" else ""))
    wait_for(lambda: Round.objects.filter(pk=r.pk, state="closed").exists())
    closed = Round.objects.get(pk=r.pk)
    round_close_task.delay(r.pk)
    round_close_task.delay(r.pk)
    wait_for(lambda: queued(broker) == 0)
    sweep.delay()
    wait_for(lambda: queued(broker) == 0)
    again = Round.objects.get(pk=r.pk)
    assert (again.closed_at, again.anchor_leaf_id) == (closed.closed_at, closed.anchor_leaf_id)
    assert Slash.objects.filter(round=r).count() == 1


def test_a_task_that_always_crashes_is_retried_a_bounded_number_of_times_then_parked(
    broker, celery_worker, quick_retries, signed_in
):
    idao, _quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="1", content_hash="0x" + "22" * 32)
    attempts = []

    def explode(rounds):
        attempts.extend(round_.pk for round_ in rounds)
        raise RuntimeError("downstream hook is broken")

    with closed_hook(explode):
        for p in ps:
            services.verdict_submit(round_id=r.pk, **signed(p, r))
        parked = wait_for(lambda: ParkedTask.objects.filter(task_name="quorums.tasks.round_close_task").first())
    assert parked.args == [r.pk] and "downstream hook is broken" in parked.error and parked.retries == 2
    assert len(attempts) == 3  # the first run and two retries
    assert Round.objects.get(pk=r.pk).state == "open"  # every attempt rolled back whole
    staff = user_of(ps[0])
    staff.is_staff = True
    staff.save()
    assert b"downstream hook is broken" in signed_in(ps[0]).get("/quorums/moderation/").content
    services.parked_resolve(actor=staff, parked_id=parked.pk, reason="hook fixed", retry=True)
    wait_for(lambda: Round.objects.filter(pk=r.pk, state="closed").exists())


def test_sweep_closes_overdue_rounds_by_database_time_even_when_their_messages_were_lost(broker, celery_worker):
    from datetime import timedelta

    idao, _quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="1", content_hash="0x" + "33" * 32)
    services.verdict_submit(round_id=r.pk, **signed(ps[0], r))
    Round.objects.filter(pk=r.pk).update(deadline=r.opened_at - timedelta(seconds=1))
    broker.delete("celery")  # whatever was queued is lost
    sweep.delay()
    closed = wait_for(lambda: Round.objects.filter(pk=r.pk, state="closed").first())
    assert closed.close_reason == "deadline" and closed.outcome == "inconclusive"
    assert sorted(s.reason for s in Slash.objects.filter(round=r)) == ["absence", "absence"]


def test_waiting_contribution_is_routed_by_the_sweep_once_a_quorum_is_available(broker, celery_worker, signed_in):
    from quorums.models import QuorumTrust

    idao, _quorum, _ps = setup_network(3)
    QuorumTrust.objects.filter(idao=idao).update(active=False)
    member(idao, BOB)
    body = upload(signed_in(BOB), idao)
    c = wait_for(lambda: Contribution.objects.filter(public_id=body["id"]).exclude(waiting_reason="").first())
    assert c.state == "uploaded" and "no quorum" in c.waiting_reason
    QuorumTrust.objects.filter(idao=idao).update(active=True)
    sweep.delay()
    assert wait_for(lambda: Contribution.objects.filter(pk=c.pk, state="routed").first()).round_id
