"""Group commit (ledger.combine) against real PostgreSQL and Redis: writers queued behind a busy
leader share one database transaction, each gets its own outcome, and nothing is applied twice
or lost when a leader dies before or after posting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings as settings_module
from django.db import connection, transaction
from django.test import override_settings

from ledger import combine, owners, services
from ledger.errors import InsufficientFunds
from ledger.items import Item
from ledger.models import Balance, Transaction
from ledger.services import _post
from ledger.verify import ledger_verify
from tests.celery_helpers import wait_for
from tests.ledger.held import HeldTransaction
from tests.ledger.test_concurrency import run_threads
from tests.personas import many

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _group_commit_on(settings):
    settings.LEDGER_COMBINE = True  # opt-in (portal/settings.py); bin/test runs on PostgreSQL


def queued() -> int:
    return combine._redis().llen(combine._keys()[0])


def xmin_of(keys: list[str]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM ledger_transaction WHERE idempotency_key = ANY(%s)", [keys])
        return {int(row[0]) for row in cursor.fetchall()}


def funded(n: int, amount: int = 100) -> list[str]:
    """n funded users, once the leader thread of their mints (if any) has stepped down."""
    people = [owners.user(p.address) for p in many(n)]
    for i, who in enumerate(people):
        services.mint(to=who, asset="LAZ", amount=amount, idempotency_key=f"fund:{i}")
    wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 0, interval=0.005)
    return people


def test_writers_queued_behind_a_busy_leader_are_applied_in_one_database_transaction():
    leader, *others = funded(5)
    sink = owners.idao("sink")
    hold = threading.Event()

    def work(i):
        if i > 0:
            wait_for(hold.is_set, interval=0.005)
        return services.transfer(
            source=[leader, *others][i],
            destination=sink,
            asset="LAZ",
            amount=10,
            kind="transfer",
            idempotency_key=f"t{i}",
        )

    # Block the first writer (the leader) on its balance row, so the four others queue behind it.
    with transaction.atomic():
        Balance.objects.select_for_update().get(account__owner=leader, asset="LAZ")
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(run_threads(5, work)))
        runner.start()
        wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 1, interval=0.005)
        hold.set()
        wait_for(lambda: queued() == 4, interval=0.005)
    runner.join(60)
    assert all(isinstance(r, Transaction) for r in results), results
    assert len(xmin_of([f"t{i}" for i in range(1, 5)])) == 1  # the four share one transaction
    assert xmin_of(["t0"]).isdisjoint(xmin_of(["t1"]))
    assert Balance.objects.get(account__owner=sink, asset="LAZ").amount == 50
    # The leader's thread steps down once the queue stays empty.
    wait_for(lambda: queued() == 0 and combine._redis().zcard(combine._keys()[1]) == 0, interval=0.005)
    assert ledger_verify().ok


def test_a_refusal_in_a_combined_batch_reaches_only_its_own_writer():
    leader, a, b, poor = [*funded(3), owners.user(many(4)[3].address)]
    sink = owners.idao("sink")
    hold = threading.Event()
    payers = [leader, a, poor, b]

    def work(i):
        if i > 0:
            wait_for(hold.is_set, interval=0.005)
        return services.transfer(
            source=payers[i], destination=sink, asset="LAZ", amount=10, kind="transfer", idempotency_key=f"r{i}"
        )

    with transaction.atomic():
        Balance.objects.select_for_update().get(account__owner=leader, asset="LAZ")
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(run_threads(4, work)))
        runner.start()
        wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 1, interval=0.005)
        hold.set()
        wait_for(lambda: queued() == 3, interval=0.005)
    runner.join(60)
    assert isinstance(results[2], InsufficientFunds), results
    assert all(isinstance(results[i], Transaction) for i in (0, 1, 3)), results
    assert len(xmin_of(["r1", "r3"])) == 1
    assert not Transaction.objects.filter(idempotency_key="r2").exists()
    assert Balance.objects.get(account__owner=sink, asset="LAZ").amount == 30


def test_a_writer_whose_leader_stopped_renewing_its_lease_takes_over_and_posts():
    (payer,) = funded(1)
    # A leader that died: its lease ends in 300 ms and nobody renews it.
    client, (_, leaders, _) = combine._redis(), combine._keys()
    seconds, micros = client.time()
    client.zadd(leaders, {"dead-leader": seconds * 1000 + micros // 1000 + 300})
    tx = services.transfer(
        source=payer, destination=owners.idao("x"), asset="LAZ", amount=1, kind="transfer", idempotency_key="late"
    )
    assert Transaction.objects.get(idempotency_key="late").pk == tx.pk
    wait_for(lambda: queued() == 0 and client.zcard(leaders) == 0, interval=0.005)


@override_settings(LEDGER_COMBINE_WAIT_SECONDS=1.0)
def test_a_writer_nobody_answers_takes_its_item_back_from_the_queue_and_posts_it_once():
    (payer,) = funded(1)
    client, (_, leaders, _) = combine._redis(), combine._keys()
    client.zadd(leaders, {"stuck-leader": 2**50})  # alive for ever, never pops
    tx = services.transfer(
        source=payer, destination=owners.idao("x"), asset="LAZ", amount=1, kind="transfer", idempotency_key="mine"
    )
    assert Transaction.objects.filter(idempotency_key="mine").get().pk == tx.pk
    assert queued() == 0  # taken back: no later leader can post it again


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_queued_writer_that_nobody_answers_yet_hears_its_wait_end(settings, protocol):
    # Its first read sleeps until more than the enter script's answer has come (SO_RCVLOWAT): the
    # shortest answer of its BLPOP, a timeout's nil, must still wake it, in either protocol.
    settings.REDIS_URL = f"{settings.REDIS_URL}?protocol={protocol}"
    combine._redis.cache_clear()
    combine._scripts.cache_clear()
    try:
        client, keys = combine._redis(), combine._keys()
        client.zadd(keys[1], {"busy-leader": 2**50})  # a leader exists, so the writer queues
        answer: list = []
        writer = threading.Thread(target=lambda: answer.append(combine._enter("w", "{}", keys)))
        writer.start()
        writer.join(30)
        assert answer == [(0, None)]  # queued, and nobody answered within POLL_SECONDS
        client.delete(keys[0], keys[1])
    finally:
        combine._local.conn = None
        combine._redis.cache_clear()
        combine._scripts.cache_clear()


@override_settings(LEDGER_COMBINE_WAIT_SECONDS=1.0)
def test_a_writer_whose_item_a_leader_took_waits_for_that_leader_and_gets_its_transaction():
    (payer,) = funded(1)
    client, (queue, leaders, _) = combine._redis(), combine._keys()
    client.zadd(leaders, {"slow-leader": 2**50})
    outcome: list = []
    writer = threading.Thread(
        target=lambda: outcome.extend(
            run_threads(
                1,
                lambda i: services.transfer(
                    source=payer,
                    destination=owners.idao("x"),
                    asset="LAZ",
                    amount=1,
                    kind="transfer",
                    idempotency_key="taken",
                ),
            )
        )
    )
    writer.start()
    # A leader takes the item under the fence and is still posting it when the writer's wait ends.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [combine.FENCE_LOCK])
        p = json.loads(wait_for(lambda: client.lpop(queue), interval=0.005))
        wait_for(_waiting_on_fence, interval=0.005)
        posted = _post(
            [Item(0, p["k"], [(o, a, int(x)) for o, a, x in p["l"]], p["key"], p["m"], p["f"])], atomic=False
        )
        # ... and dies before it replies: nothing is ever pushed to the writer.
    writer.join(60)
    (result,) = outcome
    assert isinstance(result, Transaction), result
    assert result.pk == posted[0].transaction.pk  # the leader's transaction, replayed, not a second one
    assert Transaction.objects.filter(idempotency_key="taken").count() == 1


def _waiting_on_fence() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            [combine.FENCE_LOCK],
        )
        return cursor.fetchone()[0] > 0


def test_eight_writers_at_once_each_transfer_is_applied_exactly_once():
    payers = funded(8, amount=1000)
    sink = owners.idao("sink")

    def work(i):
        return [
            services.transfer(
                source=payers[i], destination=sink, asset="LAZ", amount=1, kind="transfer", idempotency_key=f"e{i}:{n}"
            )
            for n in range(40)
        ]

    results = run_threads(8, work)
    assert all(isinstance(r, list) and len(r) == 40 for r in results), results
    assert Transaction.objects.filter(idempotency_key__startswith="e").count() == 320
    assert len({tx.pk for r in results for tx in r}) == 320
    assert Balance.objects.get(account__owner=sink, asset="LAZ").amount == 320
    assert ledger_verify().ok


def test_a_transfer_inside_a_callers_transaction_is_posted_in_it_and_rolls_back_with_it():
    (payer,) = funded(1)
    with transaction.atomic():
        services.transfer(
            source=payer, destination=owners.idao("x"), asset="LAZ", amount=1, kind="transfer", idempotency_key="in"
        )
        assert Transaction.objects.filter(idempotency_key="in").exists()
        transaction.set_rollback(True)
    assert not Transaction.objects.filter(idempotency_key="in").exists()
    assert queued() == 0


def _transfer(payer: str, key: str, amount: int = 1) -> Transaction:
    return services.transfer(
        source=payer, destination=owners.idao("sink"), asset="LAZ", amount=amount, kind="transfer", idempotency_key=key
    )


@pytest.fixture
def auto(settings, monkeypatch):
    """LEDGER_COMBINE="auto" with this process's view of the ledger's load reset."""
    settings.LEDGER_COMBINE = "auto"
    for name in ("last_id", "last_at", "busy_until"):
        monkeypatch.setattr(combine._Load, name, 0)


def test_a_lone_writer_in_auto_mode_posts_directly_without_touching_redis(auto, settings):
    (payer,) = funded(1)
    # Redis is unreachable: a transfer that tried to combine would fail to connect.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    combine._redis.cache_clear()
    combine._scripts.cache_clear()
    try:
        posted = [_transfer(payer, f"lone{n}") for n in range(20)]
    finally:
        combine._redis.cache_clear()
        combine._scripts.cache_clear()
    assert len(xmin_of([f"lone{n}" for n in range(20)])) == 20  # each in its own transaction
    assert [tx.pk for tx in posted] == sorted(tx.pk for tx in posted)
    assert not combine.applies()


def test_other_writers_overlapping_a_transfer_turn_combining_on_for_a_second(auto, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(combine.time, "monotonic", lambda: clock[0])
    combine.observe(10, started=99.999)  # the first id seen: nothing to compare yet
    clock[0] = 100.010
    combine.observe(11, started=100.008)  # 10 ms later, no id drawn by anyone else
    assert combine._Load.busy_until == 0
    clock[0] = 100.020
    combine.observe(16, started=100.015)  # four others in 10 ms, ours took 5 ms: two overlap ours
    assert combine._Load.busy_until == pytest.approx(101.020)
    clock[0] = 101.5
    combine.observe(17, started=101.499)
    assert combine._Load.busy_until == pytest.approx(101.020)  # alone again: it lapses after a second


def test_writers_posting_at_once_in_auto_mode_share_database_transactions(auto):
    payers = funded(8, amount=1000)

    def work(i):
        return [_transfer(payers[i], f"a{i}:{n}") for n in range(30)]

    results = run_threads(8, work)
    assert all(isinstance(r, list) and len(r) == 30 for r in results), results
    keys = [f"a{i}:{n}" for i in range(8) for n in range(30)]
    assert Transaction.objects.filter(idempotency_key__in=keys).count() == 240
    assert len(xmin_of(keys)) < 240  # some were combined
    assert Balance.objects.get(account__owner=owners.idao("sink"), asset="LAZ").amount == 240
    assert ledger_verify().ok


def _row_held(owner: str) -> HeldTransaction:
    """Another connection holding `owner`'s LAZ balance row locked until released."""
    return HeldTransaction(lambda: Balance.objects.select_for_update().get(account__owner=owner, asset="LAZ"))


def test_a_leaders_own_transfer_returns_while_its_thread_posts_the_queued_ones():
    leader, blocked, other = funded(3)
    hold_leader, hold_batch = _row_held(leader), _row_held(blocked)
    done: dict[int, object] = {}

    def post(i, payer):
        try:
            done[i] = _transfer(payer, f"bg{i}")
        except Exception as exc:
            done[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(0, leader))]
    threads[0].start()
    wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 1, interval=0.005)  # it leads
    for i, payer in ((1, blocked), (2, other)):
        threads.append(threading.Thread(target=post, args=(i, payer)))
        threads[-1].start()
    wait_for(lambda: queued() == 2, interval=0.005)
    hold_leader.release()
    # The leader's caller has its transaction while the batch of the two others waits on a row lock.
    threads[0].join(60)
    assert isinstance(done[0], Transaction), done
    assert 1 not in done and 2 not in done
    hold_batch.release()
    for t in threads[1:]:
        t.join(60)
    assert all(isinstance(done[i], Transaction) for i in (1, 2)), done
    assert len(xmin_of(["bg1", "bg2"])) == 1
    wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 0, interval=0.005)
    assert ledger_verify().ok


def test_a_lingering_leader_is_woken_by_the_writer_that_completes_its_next_batch(monkeypatch):
    leader, a, b, c, d = funded(5)
    # A linger (and lease, and lead) far longer than the test may take: only the wake answers in time.
    monkeypatch.setattr(combine, "LINGER_SECONDS", 600.0)
    monkeypatch.setattr(combine, "LEASE_MS", 900_000)
    monkeypatch.setattr(combine, "LEAD_SECONDS", 900.0)
    hold_leader = _row_held(leader)
    done: dict[str, object] = {}

    def post(key, payer):
        try:
            done[key] = _transfer(payer, key)
        finally:
            connection.close()

    def start(key, payer):
        thread = threading.Thread(target=post, args=(key, payer))
        thread.start()
        return thread

    first = [start("w0", leader)]
    wait_for(lambda: combine._redis().zcard(combine._keys()[1]) == 1, interval=0.005)  # it leads
    first += [start("w1", a), start("w2", b)]
    wait_for(lambda: queued() == 2, interval=0.005)
    hold_leader.release()  # the leader's thread posts the two queued, then lingers for two more
    for thread in first:
        thread.join(60)
    assert {"w0", "w1", "w2"} <= done.keys(), done
    wait_for(lambda: combine._redis().exists(combine._wake_names()[0]), interval=0.005)  # it lingers for 2
    turns = []
    asked = combine._eval
    monkeypatch.setattr(combine, "_eval", lambda name, *args: turns.append(name) or asked(name, *args))
    try:
        second = [start("w3", c), start("w4", d)]
        for thread in second:
            thread.join(60)
        assert isinstance(done.get("w3"), Transaction) and isinstance(done.get("w4"), Transaction), done
        assert len(xmin_of(["w3", "w4"])) == 1  # one batch, posted when the second of them queued
        # It waited without asking Redis: one turn took the batch, one delivered its replies.
        wait_for(lambda: len(turns) >= 2, interval=0.005)
        assert turns[:2] == ["turn", "turn"] and len(turns) <= 3, turns
    finally:
        # Step the leader down: its lease gone, a wake makes its thread look and leave.
        combine._redis().delete(combine._keys()[1])
        combine._redis().publish(combine._wake_names()[1], "1")
        wait_for(lambda: combine._drainer is None or not combine._drainer.is_alive(), timeout=30, interval=0.01)
    assert ledger_verify().ok


def test_a_writer_loads_the_scripts_again_after_redis_flushed_them():
    (payer,) = funded(1)
    combine._scripts()
    combine._redis().script_flush()
    tx = _transfer(payer, "after-flush")
    assert Transaction.objects.get(idempotency_key="after-flush").pk == tx.pk


LEADER_PROCESS = """
import django
django.setup()
from ledger import services
services.transfer(source={payer!r}, destination="idao:sink", asset="LAZ", amount=1, kind="transfer", idempotency_key="exiting")
print("returned", flush=True)
"""


def test_a_process_whose_thread_leads_when_it_ends_finishes_the_batch_and_steps_down():
    leader_payer, queued_payer = funded(2)
    hold_leader, hold_batch = _row_held(leader_payer), _row_held(queued_payer)
    db = settings_module.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LEDGER_COMBINE": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", LEADER_PROCESS.format(payer=leader_payer)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        leaders = combine._keys()[1]
        wait_for(lambda: combine._redis().zcard(leaders) == 1, interval=0.01)  # the process leads
        done: list = []
        writer = threading.Thread(target=lambda: done.extend(run_threads(1, lambda i: _transfer(queued_payer, "q"))))
        writer.start()
        wait_for(lambda: queued() == 1, interval=0.005)
        hold_leader.release()
        # Its own transfer returns and its main thread ends, while its thread's batch waits on a row.
        assert process.stdout.readline().strip() == "returned"
        hold_batch.release()
        assert process.wait(60) == 0
        # It finished the batch and stepped down before it exited: no lease left to lapse.
        assert combine._redis().zcard(leaders) == 0
        writer.join(60)
        assert isinstance(done[0], Transaction), done
        assert xmin_of(["q"]).isdisjoint(xmin_of(["exiting"]))
    finally:
        process.kill()
        hold_leader.release()
        hold_batch.release()
