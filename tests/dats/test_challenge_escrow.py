"""A DAT's contributor payouts wait in its escrow while it can still be challenged, not only
while it is contested: released to the owner once when the window closes with no challenge,
sent to the pool by a later challenge that is upheld, to the owner by one that is dismissed; a
release racing a challenge filing lands exactly one of the two."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from dats import hooks
from dats.models import DAT, Challenge
from dats.services.challenges import ChallengeWindowClosed, challenge_file
from ledger import owners
from ledger.models import Transaction
from ledger.selectors import balance
from rewards import conf
from rewards.models import Payout
from rewards.services.escrows import escrow_release, escrows_release_due, release_key
from rewards.tasks import close_due_epochs
from tests.dats.test_challenges import BOND, _credit, _decide, _epoch_with_usage, _minted
from tests.personas import BOB, MALLORY
from tests.quorums.factories import user_of
from tests.rewards.factories import make_model

ASSETS = ("LAZ", "CREDIT")


def _held(dat) -> dict[str, int]:
    return {a: balance(dat.escrow_owner, a) for a in ASSETS}


def _close_window(dat) -> None:
    """Minted three epochs ago: its window (the epoch after the mint's) has closed."""
    DAT.objects.filter(pk=dat.pk).update(minted_at=dat.minted_at - 3 * timedelta(seconds=conf.epoch_seconds()))


def _contributor_lines(dat) -> dict[str, int]:
    return {
        a: int(p.amount) for a, p in ((p.asset, p) for p in Payout.objects.filter(dat_id=dat.pk, role="contributor"))
    }


@pytest.mark.django_db
def test_payouts_inside_the_window_are_held_then_released_to_the_owner_once_after_it(client):
    idao, _ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    totals = _epoch_with_usage(version, 1000)  # asserts the lines sum exactly to the pool
    line = Payout.objects.get(dat_id=dat.pk, role="contributor", asset="LAZ")
    assert line.recipient == dat.escrow_owner and totals["LAZ"] == 1_000_000
    held = _held(dat)
    assert held["LAZ"] == int(line.amount) > 0 and held["CREDIT"] > 0
    assert balance(owners.user(BOB.address), "LAZ") == 0  # held, not paid
    client.force_login(user_of(BOB))
    page = client.get("/earnings/").content.decode()
    assert 'data-testid="held"' in page and "held until" in page and 'data-testid="held-LAZ"' in page

    assert escrows_release_due() == [] and _held(dat) == held  # the window is still open
    _close_window(dat)
    close_due_epochs()  # the beat task: closes what is due, then releases the escrows whose window closed
    assert escrows_release_due() == [] and escrow_release(dat_id=dat.pk) is None  # a second run moves nothing
    [tx] = Transaction.objects.filter(idempotency_key=release_key(dat.pk))
    assert tx.postings.count() == 4  # both assets out of the escrow, into the owner's account
    assert _held(dat) == {"LAZ": 0, "CREDIT": 0}
    assert balance(owners.user(BOB.address), "LAZ") == held["LAZ"]
    assert 'data-testid="held"' not in client.get("/earnings/").content.decode()
    # After its window a DAT's payouts are paid at once.
    _epoch_with_usage(version, 500)
    assert Payout.objects.filter(dat_id=dat.pk, role="contributor", recipient=owners.user(BOB.address)).count() == 2


@pytest.mark.django_db
def test_a_challenge_filed_later_in_the_window_and_upheld_sends_the_held_payouts_to_the_pool():
    idao, ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _epoch_with_usage(version, 1000)  # not challenged yet: held all the same
    held = _held(dat)
    assert held["LAZ"] > 0 and balance(owners.user(BOB.address), "LAZ") == 0
    _credit(MALLORY, BOND)
    challenge = challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="plagiarism", evidence="mine")
    pool = {a: balance(owners.REWARD_POOL, a) for a in ASSETS}
    _decide(challenge.panel_round, ps, "reject")
    challenge.refresh_from_db()
    assert challenge.state == "upheld" and challenge.outcome["escrow"] == held
    assert {a: balance(owners.REWARD_POOL, a) for a in ASSETS} == {a: pool[a] + held[a] for a in ASSETS}
    assert _held(dat) == {"LAZ": 0, "CREDIT": 0} and balance(owners.user(BOB.address), "LAZ") == 0
    # The next epoch still sums exactly to its pool; the revoked DAT's line is held again, and its
    # window's release sends it to the pool too, never to the owner.
    _epoch_with_usage(version, 500)
    again = _held(dat)["LAZ"]
    assert again > 0
    _close_window(dat)
    pool_laz = balance(owners.REWARD_POOL, "LAZ")
    assert escrows_release_due() == [dat.pk]
    assert balance(owners.REWARD_POOL, "LAZ") == pool_laz + again and balance(owners.user(BOB.address), "LAZ") == 0


@pytest.mark.django_db
def test_a_challenge_filed_later_in_the_window_and_dismissed_releases_the_held_payouts_to_the_owner():
    idao, ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _epoch_with_usage(version, 1000)
    held = _held(dat)
    _credit(MALLORY, BOND)
    challenge = challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="licence", evidence="CC-BY-NC")
    _close_window(dat)
    assert escrows_release_due() == []  # contested: its decision moves the escrow, not the release
    _decide(challenge.panel_round, ps, "approve")
    challenge.refresh_from_db()
    assert challenge.state == "dismissed"
    assert balance(owners.user(BOB.address), "LAZ") == held["LAZ"] and _held(dat) == {"LAZ": 0, "CREDIT": 0}
    assert escrows_release_due() == [] and not Transaction.objects.filter(idempotency_key=release_key(dat.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_release_racing_a_challenge_filing_lands_exactly_one_outcome(monkeypatch):
    """Both start inside the window and queue on the DAT row behind a blocker while the window
    closes; the release gets the row first. Judged by the clock at the lock, the challenge then
    finds the window closed (judged by its transaction's start, it would be filed over an escrow
    already released: both outcomes)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    idao, _ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _epoch_with_usage(version, 1000)
    held = _held(dat)
    assert held["LAZ"] > 0
    _credit(MALLORY, BOND)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp() + interval '400 milliseconds'")
        ends = cursor.fetchone()[0]
    monkeypatch.setattr(hooks, "_CHALLENGE_WINDOW_PROVIDERS", [lambda dats: {d.pk: ends for d in dats}])
    errors: list[BaseException] = []
    locked, go = threading.Event(), threading.Event()

    def waiting() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    def queued(n: int) -> None:
        """Wait (on the database's state) until n sessions are queued on a row lock."""
        for _ in range(10_000):
            if waiting() >= n:
                return
        go.set()
        raise AssertionError(f"{n} sessions never queued on the DAT row")

    def blocker() -> None:
        try:
            with transaction.atomic():
                DAT.objects.select_for_update().get(pk=dat.pk)
                locked.set()
                go.wait(30)
        finally:
            connection.close()

    def run(fn) -> None:
        try:
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    hold = threading.Thread(target=blocker)
    hold.start()
    assert locked.wait(30)
    release = threading.Thread(target=run, args=(lambda: escrow_release(dat_id=dat.pk),))
    release.start()
    queued(1)
    file = threading.Thread(
        target=run,
        args=(lambda: challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="other", evidence="race"),),
    )
    file.start()
    queued(2)
    with connection.cursor() as cursor:  # both queued inside the window; now let it close
        cursor.execute("SELECT pg_sleep(GREATEST(0, EXTRACT(EPOCH FROM %s - clock_timestamp())) + 0.05)", [ends])
    go.set()
    for t in (hold, release, file):
        t.join()
    released = Transaction.objects.filter(idempotency_key=release_key(dat.pk)).exists()
    challenged = Challenge.objects.filter(dat=dat).exists()
    assert (released, challenged) == (True, False), errors
    assert [type(e) for e in errors] == [ChallengeWindowClosed]
    assert balance(owners.user(BOB.address), "LAZ") == held["LAZ"] and _held(dat) == {"LAZ": 0, "CREDIT": 0}
    assert balance(owners.user(MALLORY.address), "CREDIT") == BOND  # nothing moved for the refused challenge
    dat.refresh_from_db()
    assert dat.status == "active" and dat.contested_at is None
