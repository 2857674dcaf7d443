"""The batch paths (many verdicts, many closes, many routings, many mints in one transaction) keep
every per-round guarantee: per-item refusals, exactly-once closes, slashes, anchors and DATs,
all-or-nothing per batch with a per-round fallback, and no double close under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from contributions.models import Contribution
from contributions.services import contribution_create, contributions_route_queued
from dats.models import DAT
from ledger.models import Leaf
from quorums import hooks, services
from quorums.errors import NotInCommittee, WrongRound
from quorums.models import Equivocation, QuorumTrust, Round, Slash, Verdict
from quorums.services import verdicts_submit
from tests.personas import BOB, MALLORY, many
from tests.quorums.factories import PROBE, QuorumFactory, bonded, closed_hook, member, setup_network, signed, staged


def open_probe(idao, ref: str) -> Round:
    r = services.round_open(
        idao_id=idao.pk, subject_kind=PROBE, subject_ref=ref, content_hash="0x" + f"{int(ref):064x}"
    )
    assert r is not None
    return r


def item(p, r, verdict="approve", reason="", **override) -> dict:
    return {"round_id": r.pk, **signed(p, r, verdict, reason, **override)}


@pytest.mark.django_db
def test_a_verdict_batch_answers_item_by_item_and_writes_only_the_accepted_ones():
    idao, _quorum, ps = setup_network(3)
    a, b = open_probe(idao, "1"), open_probe(idao, "2")
    first = item(ps[0], a)
    results = verdicts_submit(
        items=[
            first,
            item(ps[1], b),
            {**first},  # the same signed verdict again: a no-op
            item(ps[2], a, round=b.pk),  # signed for another round
            item(MALLORY, a),  # not on the committee
            item(ps[0], a, "reject", "changed my mind"),  # a second, different verdict: equivocation
        ]
    )
    assert results[2].duplicate and results[2].verdict.pk == results[0].verdict.pk
    assert isinstance(results[3], WrongRound) and isinstance(results[4], NotInCommittee)
    assert results[5].equivocation is not None
    assert Verdict.objects.filter(round=a).count() == 2 and Verdict.objects.filter(round=b).count() == 1
    eq = Equivocation.objects.get(round=a)
    assert (eq.first_id, eq.second_id) == (results[0].verdict.pk, results[5].verdict.pk)


@pytest.mark.django_db
def test_closing_a_batch_twice_closes_slashes_and_anchors_each_round_once():
    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000)
    rounds = [open_probe(idao, str(i)) for i in range(1, 4)]
    verdicts_submit(
        items=[
            item(p, r, v, "no" if v == "reject" else "")
            for r in rounds
            for p, v in zip(ps, ["reject", "approve", "approve", "approve"], strict=True)
        ]
    )
    ids = [r.pk for r in rounds]
    closed = services.rounds_close(round_ids=ids)
    again = services.rounds_close(round_ids=ids + ids)
    assert [r.outcome for r in closed] == ["accepted"] * 3
    assert [(r.pk, r.anchor_leaf_id) for r in again] == [(r.pk, r.anchor_leaf_id) for r in closed]
    for r in rounds:
        assert Leaf.objects.filter(kind="validation_round", subject=f"round:{r.pk}").count() == 1
        assert [(s.validator.address, s.reason) for s in Slash.objects.filter(round=r)] == [(ps[0].address, "minority")]


@pytest.mark.django_db
def test_a_broken_round_in_a_batch_does_not_hold_back_the_others():
    idao, _quorum, ps = setup_network(3)
    good, bad = open_probe(idao, "1"), open_probe(idao, "2")
    verdicts_submit(items=[item(p, r) for r in (good, bad) for p in ps])

    def explode(rounds):
        if any(round_.pk == bad.pk for round_ in rounds):
            raise RuntimeError("downstream hook is broken")

    with closed_hook(explode), pytest.raises(RuntimeError, match="downstream hook is broken"):
        services.rounds_close(round_ids=[good.pk, bad.pk])
    assert Round.objects.get(pk=good.pk).state == "closed"
    assert Round.objects.get(pk=bad.pk).state == "open"  # rolled back whole, retried by the task
    assert not Leaf.objects.filter(subject=f"round:{bad.pk}").exists()
    assert services.rounds_close(round_ids=[good.pk, bad.pk])[1].state == "closed"


@pytest.mark.django_db(transaction=True)
def test_two_workers_closing_overlapping_batches_at_once_close_each_round_once():
    assert connection.vendor == "postgresql"
    idao, _quorum, ps = setup_network(3)
    rounds = [open_probe(idao, str(i)) for i in range(1, 7)]
    verdicts_submit(items=[item(p, r) for r in rounds for p in ps])
    ids = [r.pk for r in rounds]
    barrier, errors = threading.Barrier(2), []

    def close(batch):
        try:
            barrier.wait()
            services.rounds_close(round_ids=batch)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(ids,)), threading.Thread(target=close, args=(ids[::-1][:4],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Round.objects.filter(pk__in=ids, state="closed").count() == 6
    for r in rounds:
        assert Leaf.objects.filter(kind="validation_round", subject=f"round:{r.pk}").count() == 1


def upload(idao, content: bytes) -> Contribution:
    return contribution_create(
        idao_slug=idao.slug,
        owner=member(idao, BOB),
        upload=staged(content),
        kind="dataset",
        title="Readings",
        licence="CC0-1.0",
        usage_policy={"allowed_uses": ["training"]},
    )


@pytest.mark.django_db
def test_one_routing_task_routes_the_queued_uploads_and_their_own_tasks_then_do_nothing():
    idao, _quorum, _ps = setup_network(3)
    made = [upload(idao, f"a,b\n{i},2\n".encode()) for i in range(5)]
    waiting = made[4]
    Contribution.objects.filter(pk=waiting.pk).update(waiting_reason="Waiting: no quorum")  # the sweep's business
    assert contributions_route_queued(contribution_id=made[0].pk) == 4
    states = dict(Contribution.objects.values_list("pk", "state"))
    assert [states[c.pk] for c in made] == ["routed"] * 4 + ["uploaded"]
    assert Round.objects.filter(subject_kind="contribution").count() == 4
    for c in made[:4]:
        assert contributions_route_queued(contribution_id=c.pk) == 0
    assert Round.objects.filter(subject_kind="contribution").count() == 4
    assert contributions_route_queued(contribution_id=waiting.pk) == 1  # its own task still routes it


@pytest.mark.django_db
def test_a_routing_batch_spreads_rounds_like_one_by_one_routing_least_busy_first():
    idao, first, _ps = setup_network(3)
    second = QuorumFactory(committee_size=3)
    QuorumTrust.objects.create(idao=idao, quorum=second, active=True)
    for i in range(3):
        bonded(second, many(1, start=90_000 + i)[0])
    made = [upload(idao, f"x,{i}\n".encode()) for i in range(4)]
    contributions_route_queued(contribution_id=made[0].pk)
    counts = {q.pk: Round.objects.filter(quorum=q).count() for q in (first, second)}
    assert counts == {first.pk: 2, second.pk: 2}


@pytest.mark.django_db
def test_a_closing_batch_mints_one_anchored_dat_per_accepted_round_once():
    idao, _quorum, ps = setup_network(3)
    made = [upload(idao, f"m,{i}\n".encode()) for i in range(3)]
    contributions_route_queued(contribution_id=made[0].pk)
    rounds = list(Round.objects.filter(subject_kind="contribution").order_by("pk"))
    verdicts_submit(items=[item(p, r) for r in rounds for p in ps])
    services.rounds_close(round_ids=[r.pk for r in rounds])
    hooks.run_closed([Round.objects.get(pk=r.pk) for r in rounds])  # the hooks once more: nothing new
    for r in rounds:
        dat = DAT.objects.get(round=r)
        leaf = Leaf.objects.get(pk=dat.anchor_leaf_id)
        assert (leaf.kind, leaf.subject) == ("dat.mint", f"dat:{dat.pk}")
        assert Contribution.objects.get(pk=int(r.subject_ref)).state == "accepted"
    assert DAT.objects.count() == 3 and Leaf.objects.filter(kind="dat.mint").count() == 3


@pytest.mark.django_db(transaction=True)
def test_routing_is_queued_below_closing_on_the_broker(broker):
    from tests.celery_helpers import QUEUE_KEYS

    idao, _quorum, _ps = setup_network(3)
    upload(idao, b"p,q\n")
    assert broker.llen("celery") == 0 and broker.llen(QUEUE_KEYS[1]) == 1


@pytest.mark.django_db
def test_a_verdict_batch_stores_each_verdict_exactly_as_signed_with_no_scores_as_null():
    from tests.quorums.factories import scored

    idao, _quorum, ps = setup_network(3)
    a, b = open_probe(idao, "1"), open_probe(idao, "2")
    reason = 'odd "text" \\ with ✓ and\na newline'
    evidence = '{"codes": ["ok"], "figures": {"q": "\\"quoted\\""}}'
    items = [
        item(ps[0], a, "reject", reason),
        {"round_id": b.pk, **scored(ps[0], b, "approve", "", scores={"quality": 4321}, evidence=evidence)},
    ]
    results = verdicts_submit(items=items, automated=True)
    plain, rich = (Verdict.objects.get(pk=r.verdict.pk) for r in results)
    assert results[0].verdict.pk < results[1].verdict.pk
    assert (plain.round_id, plain.verdict, plain.reason, plain.evidence, plain.automated) == (
        a.pk,
        "reject",
        reason,
        "",
        True,
    )
    assert Verdict.objects.filter(pk=plain.pk, scores__isnull=True).exists()  # SQL NULL, not JSON null
    assert plain.signature == items[0]["signature"] and plain.digest == results[0].verdict.digest
    assert rich.scores == {"authenticity": 10_000, "ownership": 10_000, "quality": 4321, "uniqueness": 10_000}
    assert rich.evidence == evidence and rich.verified_by == "eoa" and rich.created_at is not None
