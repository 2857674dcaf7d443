"""Sealing through a real Celery worker, and a sealer killed in the middle of its transaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ledger import merkle, selectors, services
from ledger.models import Block, ChainHead
from ledger.schedule import BEAT
from ledger.verify import ledger_verify
from portal.celery import beat_schedule

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def test_beat_seals_every_few_seconds():
    assert beat_schedule()["ledger-seal-block"] == BEAT["ledger-seal-block"]
    assert BEAT["ledger-seal-block"]["task"] == "ledger.tasks.seal_block"
    assert BEAT["ledger-seal-block"]["schedule"] <= 5


def test_a_celery_worker_seals_queued_leaves_on_demand(celery_worker):
    from ledger.tasks import seal_block

    leaf = services.anchor(kind="test.record", subject="via-celery", payload={"ok": True})
    seal_block.delay()
    seal_block.delay()  # a second run finds nothing queued and does nothing
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and selectors.leaf_block(leaf.pk) is None:
        time.sleep(0.1)
    time.sleep(0.5)
    assert list(Block.objects.values_list("height", "leaf_count")) == [(1, 1)]


SLOW_INSERT = """
CREATE OR REPLACE FUNCTION ledger_test_slow_block() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$;
CREATE TRIGGER ledger_test_slow_block BEFORE INSERT ON ledger_block FOR EACH ROW EXECUTE FUNCTION ledger_test_slow_block();
"""


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_a_sealer_killed_mid_block_leaves_the_block_absent_and_resealing_gives_the_same_root():
    services.anchor(kind="test.record", subject="first", payload={})
    first = services.block_seal()
    queued = [services.anchor(kind="test.record", subject=f"r{i}", payload={"i": i}) for i in range(5)]
    expected_root = merkle.to_hex(merkle.root_of([bytes(leaf.leaf_hash) for leaf in queued]))
    with connection.cursor() as cursor:
        cursor.execute(SLOW_INSERT)
    env = {**os.environ, "DATABASE_URL": _database_url()}
    sealer = subprocess.Popen(
        [sys.executable, "manage.py", "seal_block"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # Wait until the sealer has claimed the leaves and is inside its block INSERT.
        backend = None
        deadline = time.monotonic() + 30
        while backend is None and time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"
                )
                row = cursor.fetchone()
            backend = row[0] if row else None
            time.sleep(0.05)
        assert backend is not None, sealer.communicate(timeout=5)
        # Killed like a crashed worker; its session ends as on a server restart.
        sealer.send_signal(signal.SIGKILL)
        sealer.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        if sealer.poll() is None:
            sealer.kill()
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER ledger_test_slow_block ON ledger_block")
        cursor.execute("DROP FUNCTION ledger_test_slow_block()")
    assert sealer.returncode == -signal.SIGKILL
    assert list(Block.objects.values_list("height", flat=True)) == [1]
    assert ChainHead.objects.get().height == 1
    assert selectors.queued_count() == 5
    assert ledger_verify().ok
    again = services.block_seal()
    assert (again.height, again.prev_hash, again.merkle_root, again.leaf_count) == (
        2,
        first.block_hash,
        expected_root,
        5,
    )
    assert ledger_verify().ok
