from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from ledger import owners
from ledger import selectors as ledger_selectors
from ledger.models import Transaction
from rewards.models import Epoch, Payout, UsageEvent
from rewards.services.epochs import epoch_close, epochs_close_due
from tests.celery_helpers import BROKERS

from .conftest import current_epoch, event

pytestmark = pytest.mark.django_db(transaction=True)


def _in_threads(n: int, fn) -> list:
    barrier, results, errors = threading.Barrier(n), [], []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(fn(i))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_workers_closing_the_same_epoch_at_once_pay_once(world):
    world.report([event(world.model, 3000), event(world.agent, 1000)])
    epoch = current_epoch()
    results = _in_threads(2, lambda i: epoch_close(epoch_id=epoch.pk, now=epoch.ends_at))
    assert sorted(r is None for r in results) == [False, True]
    assert Transaction.objects.filter(kind="reward").count() == 1
    assert ledger_selectors.balance(owners.REWARD_POOL, "LAZ") == 0
    assert sum(int(p.amount) for p in Payout.objects.filter(asset="LAZ")) == 1_000_000


def test_two_beat_schedulers_closing_due_epochs_pay_once(world):
    world.report([event(world.model, 3000)])
    epoch = current_epoch()
    results = _in_threads(3, lambda i: epochs_close_due(now=epoch.ends_at))
    assert sorted(len(r) for r in results) == [0, 0, 1]
    assert Transaction.objects.filter(kind="reward").count() == 1


def test_usage_racing_the_close_counts_in_exactly_one_epoch(world, settings):
    settings.REWARDS_EPOCH_SECONDS = 1
    stop = time.monotonic() + 2.5

    def reporter(i: int) -> int:
        sent = 0
        while time.monotonic() < stop:
            world.report([event(world.model, 1, key=f"race-{i}-{sent}")])
            sent += 1
        return sent

    def closer() -> None:
        while time.monotonic() < stop:
            epochs_close_due()
            time.sleep(0.05)

    closing = threading.Thread(target=lambda: (closer(), connections.close_all()))
    closing.start()
    sent = sum(_in_threads(2, reporter))
    closing.join(30)
    time.sleep(1.1)
    epochs_close_due(now=timezone.now())
    assert UsageEvent.objects.count() == sent
    for epoch in Epoch.objects.filter(state="closed"):
        assert epoch.event_count == UsageEvent.objects.filter(epoch=epoch).count()
    assert not Epoch.objects.filter(state="open", ends_at__lte=timezone.now()).exists()


@pytest.mark.parametrize("broker_kind", BROKERS)
def test_a_worker_closes_the_epoch_once_when_beat_fires_twice(world, celery_worker):
    from rewards.tasks import close_due_epochs

    world.report([event(world.model, 3000)])
    epoch = current_epoch()
    Epoch.objects.filter(pk=epoch.pk).update(
        ends_at=timezone.now(), starts_at=timezone.now() - timezone.timedelta(hours=1)
    )
    close_due_epochs.delay()
    close_due_epochs.delay()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Epoch.objects.get(pk=epoch.pk).state == "open":
        time.sleep(0.1)
    time.sleep(0.5)
    assert Epoch.objects.get(pk=epoch.pk).state == "closed"
    assert Transaction.objects.filter(kind="reward").count() == 1


def test_the_same_batch_reported_by_two_workers_at_once_counts_and_charges_once(world):
    batch = [event(world.model, 10, key=f"dup-{i}") for i in range(200)]
    results = _in_threads(2, lambda i: world.report(batch))
    assert sum(r.accepted for r in results) == 200 and sum(r.duplicates for r in results) == 200
    assert UsageEvent.objects.count() == 200
    assert ledger_selectors.balance(owners.REWARD_POOL, "CREDIT") == 2000
    assert sum(r.fee_credit for r in results) == 2000


def test_racing_grants_with_one_key_and_different_amounts_make_one_grant_and_409s(world):
    from ledger.errors import IdempotencyKeyReused
    from rewards.models import CreditGrant
    from rewards.services.credits import credit_grant
    from tests.personas import ALICE, BOB

    from .conftest import fund_credit
    from .factories import MembershipFactory, user_of

    MembershipFactory(idao=world.a, user=user_of(ALICE), role="steward")
    MembershipFactory(idao=world.a, user=user_of(BOB))
    fund_credit("idao:alpha", 10_000)

    def grant(i: int) -> str:
        try:
            g = credit_grant(
                idao=world.a, steward=user_of(ALICE), member_address=BOB.address, amount=300 + i % 2, request_key="race"
            )
        except IdempotencyKeyReused:
            return "409"
        return f"grant {g.pk} of {int(g.amount)}"

    results = _in_threads(8, grant)
    winner = CreditGrant.objects.get()
    assert sorted(results) == sorted([f"grant {winner.pk} of {int(winner.amount)}"] * 4 + ["409"] * 4), results
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == int(winner.amount)


def test_racing_reports_with_one_key_for_different_events_count_one_and_refuse_the_other(world):
    from ledger.errors import IdempotencyKeyReused

    def report(i: int) -> str:
        try:
            return f"accepted {world.report([event(world.model, 10 + i, key='race-u')]).accepted}"
        except IdempotencyKeyReused:
            return "409"

    assert sorted(_in_threads(2, report)) == ["409", "accepted 1"]
    assert UsageEvent.objects.filter(idempotency_key="race-u").count() == 1
