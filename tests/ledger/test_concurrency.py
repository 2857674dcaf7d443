"""Real threads against real PostgreSQL: each thread has its own connection and transaction."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from ledger import owners, selectors, services
from ledger.errors import IdempotencyKeyReused, InsufficientFunds
from ledger.models import Block, Leaf, Transaction
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
