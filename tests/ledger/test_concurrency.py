"""Real threads against real PostgreSQL: each thread has its own connection and transaction."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from ledger import owners, selectors, services
from ledger.errors import IdempotencyKeyReused, InsufficientFunds
from ledger.models import Balance, Block, Leaf, Transaction
from ledger.verify import ledger_verify
from tests.personas import many

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(n, work):
    """Start n threads at once (a barrier), return each one's result or exception."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_fifty_concurrent_transfers_from_an_account_that_can_pay_ten_never_overdraw():
    payer, *payees = [owners.user(p.address) for p in many(51)]
    services.mint(to=payer, asset="LAZ", amount=10 * 7, idempotency_key="fund")
    results = run_threads(
        50,
        lambda i: services.transfer(
            source=payer, destination=payees[i], asset="LAZ", amount=7, kind="transfer", idempotency_key=f"pay:{i}"
        ),
    )
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Transaction": 10, "InsufficientFunds": 40}, kinds
    assert all(isinstance(r, Transaction | InsufficientFunds) for r in results)
    assert selectors.balance(payer, "LAZ") == 0
    assert sum(selectors.balances(payees, "LAZ").values()) == 70
    assert ledger_verify().ok


def test_twenty_concurrent_calls_with_one_key_and_the_same_content_make_one_transaction():
    to = owners.user(many(1)[0].address)
    results = run_threads(20, lambda i: services.mint(to=to, asset="CREDIT", amount=5, idempotency_key="same"))
    assert all(isinstance(r, Transaction) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Transaction.objects.count() == 1 and selectors.balance(to, "CREDIT") == 5


def test_twenty_concurrent_calls_with_one_key_and_different_amounts_apply_one():
    to = owners.user(many(1)[0].address)
    results = run_threads(20, lambda i: services.mint(to=to, asset="CREDIT", amount=i + 1, idempotency_key="same"))
    applied = [r for r in results if isinstance(r, Transaction)]
    assert len(applied) == 1, results
    assert sum(isinstance(r, IdempotencyKeyReused) for r in results) == 19
    assert selectors.balance(to, "CREDIT") == applied[0].postings.get(amount__gt=0).amount


def test_two_sealers_racing_never_share_a_leaf_or_skip_a_height():
    def work(i):
        heights = []
        for j in range(15):
            services.anchor(kind="test.record", subject=f"w{i}-{j}", payload={"j": j})
            block = services.block_seal()
            if block:
                heights.append(block.height)
        return heights

    results = run_threads(2, work)
    assert all(isinstance(r, list) for r in results), results
    heights = sorted(h for r in results for h in r)
    assert (
        heights
        == list(range(1, len(heights) + 1))
        == list(Block.objects.order_by("height").values_list("height", flat=True))
    )
    assert selectors.queued_count() == 0
    assert sum(Block.objects.values_list("leaf_count", flat=True)) == Leaf.objects.count() == 30
    assert ledger_verify().ok


def test_a_leaf_committed_late_with_a_lower_id_is_not_skipped_by_the_sealer():
    opened, release = threading.Event(), threading.Event()

    def slow_anchor():
        try:
            with transaction.atomic():
                leaf = services.anchor(kind="test.record", subject="slow", payload={})
                opened.set()
                release.wait(10)
            return leaf.pk
        finally:
            connection.close()

    result = {}
    worker = threading.Thread(target=lambda: result.update(slow=slow_anchor()))
    worker.start()
    assert opened.wait(10)
    fast = services.anchor(kind="test.record", subject="fast", payload={})
    threading.Timer(0.5, release.set).start()
    block = services.block_seal()  # waits for the open anchoring transaction instead of skipping its leaf
    worker.join(10)
    assert result["slow"] < fast.pk
    assert block.first_leaf_id <= result["slow"] and (block.last_leaf_id, block.leaf_count) == (fast.pk, 2)
    assert ledger_verify().ok


def test_eight_writers_crediting_the_reward_pool_at_once_all_apply_on_several_shards():
    payers = [owners.user(p.address) for p in many(8)]
    services.transfers_post(
        transfers=[
            services.TransferIn(owners.ISSUER, payer, "CREDIT", 10**6, "mint", f"fund:{i}")
            for i, payer in enumerate(payers)
        ]
    )

    def writer(i):
        for n in range(15):
            services.transfer(
                source=payers[i],
                destination=owners.REWARD_POOL,
                asset="CREDIT",
                amount=1 + n,
                kind="fee",
                idempotency_key=f"fee:{i}:{n}",
            )
        return i

    assert run_threads(8, writer) == list(range(8))
    assert selectors.balance(owners.REWARD_POOL, "CREDIT") == 8 * sum(range(1, 16))
    used = Balance.objects.filter(account__owner=owners.REWARD_POOL, amount__gt=0).count()
    assert used > 1  # the credits spread over the pool's shards instead of queueing on one row
    assert ledger_verify().ok


def test_a_payout_from_the_pool_racing_fee_credits_keeps_the_balance_exact():
    payers = [owners.user(p.address) for p in many(6)]
    for i, payer in enumerate(payers):
        services.mint(to=payer, asset="CREDIT", amount=1000, idempotency_key=f"fund:{i}")
    services.mint(to=owners.REWARD_POOL, asset="CREDIT", amount=500, idempotency_key="pool")

    def work(i):
        if i == 0:
            return [
                services.transfer(
                    source=owners.REWARD_POOL,
                    destination=payers[0],
                    asset="CREDIT",
                    amount=50,
                    kind="reward",
                    idempotency_key=f"pay:{n}",
                ).pk
                for n in range(5)
            ]
        return [
            services.transfer(
                source=payers[i],
                destination=owners.REWARD_POOL,
                asset="CREDIT",
                amount=7,
                kind="fee",
                idempotency_key=f"fee:{i}:{n}",
            ).pk
            for n in range(10)
        ]

    results = run_threads(6, work)
    assert all(isinstance(r, list) for r in results), results
    assert selectors.balance(owners.REWARD_POOL, "CREDIT") == 500 - 250 + 5 * 10 * 7
    assert ledger_verify().ok


def _sealer_is_waiting() -> bool:
    """The sealer is in its horizon loop: between two looks at pg_locks (idle in its transaction)
    or in one (active). Either state counts, so a look that takes longer than the pause between
    looks on a loaded machine cannot hide it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state IN ('active', 'idle in transaction') AND query LIKE %s AND query NOT LIKE %s",
            ["%FROM pg_locks%", "%pg_stat_activity%"],
        )
        return cursor.fetchone() is not None


def _other_sessions() -> list[tuple]:
    """Every other session on this database: what it runs and what it waits for (for a failure's message)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


def test_new_writers_commit_while_the_sealer_waits_for_an_older_anchoring_transaction():
    services.anchor(kind="test.record", subject="sealed", payload={})
    services.block_seal()
    held, release = threading.Event(), threading.Event()
    old: list[int] = []
    sealed: list = []

    def old_writer():
        try:
            with transaction.atomic():
                old.append(services.anchor(kind="test.record", subject="old", payload={}).pk)
                held.set()
                assert release.wait(30)
        finally:
            connection.close()

    def sealer():
        try:
            sealed.append(services.block_seal())
        finally:
            connection.close()

    writer_thread = threading.Thread(target=old_writer)
    writer_thread.start()
    assert held.wait(10)
    sealer_thread = threading.Thread(target=sealer)
    sealer_thread.start()
    deadline = time.monotonic() + 20
    while not _sealer_is_waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _sealer_is_waiting(), _other_sessions()
    # A new anchoring writer and a transfer commit while the sealer waits for the old writer.
    new = services.anchor(kind="test.record", subject="new", payload={})
    services.mint(to=owners.REWARD_POOL, asset="LAZ", amount=3, idempotency_key="during")
    assert sealer_thread.is_alive() and not sealed
    release.set()
    writer_thread.join(30)
    sealer_thread.join(30)
    block = sealed[0]
    assert block.last_leaf_id == old[0] and block.leaf_count == 1
    later = services.block_seal()
    assert later.first_leaf_id == block.last_leaf_id + 1 and later.last_leaf_id >= new.pk
    assert ledger_verify().ok
