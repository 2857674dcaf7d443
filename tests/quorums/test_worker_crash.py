"""Kill a real worker process (SIGKILL) in the middle of closing a round, restart one, and check
that exactly one outcome, one set of slashes and one anchor exist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from ledger.models import Leaf
from quorums import services
from quorums.models import Round, Slash
from tests.celery_helpers import BROKERS, wait_for
from tests.quorums.factories import PROBE, setup_network, signed

SCRIPT = Path(__file__).with_name("pausing_worker.py")


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _kill_a_worker_inside_the_close(tmp_path):
    """Start a real worker that pauses inside its closing transaction, SIGKILL it there, and
    return the environment and log file for the worker that restarts."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "CONN_MAX_AGE": "0",
    }
    marker = tmp_path / "paused"
    log = tmp_path / "worker.log"
    first = start_worker({**env, "QUORUMS_PAUSE_FILE": str(marker)}, log)
    try:
        wait_for(marker.exists, timeout=60, interval=0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    return env, log


@pytest.mark.parametrize("broker_kind", BROKERS)
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_close_then_restarted_leaves_one_outcome_one_slash_set_one_anchor(broker, tmp_path):
    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="crash", content_hash="0x" + "44" * 32)
    services.verdict_submit(round_id=r.pk, **signed(ps[3], r, "reject", "not convinced"))
    for p in ps[:3]:
        services.verdict_submit(round_id=r.pk, **signed(p, r))  # the third approval enqueues the close
    assert broker.llen("celery") == 1

    # Killed inside the closing transaction: the slash and anchor rows are written, not committed.
    env, log = _kill_a_worker_inside_the_close(tmp_path)
    assert Round.objects.get(pk=r.pk).state == "open"
    assert not Slash.objects.filter(round=r).exists()
    assert not Leaf.objects.filter(kind="validation_round", subject=f"round:{r.pk}").exists()

    second = start_worker(env, log)
    try:
        closed = wait_for(lambda: Round.objects.filter(pk=r.pk, state="closed").first(), timeout=90, interval=0.5)
        time.sleep(3)  # room for any duplicate redelivery to run (it must be a no-op)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=20)
    assert closed.outcome == "accepted"
    assert [(s.validator.address, s.reason) for s in Slash.objects.filter(round=r)] == [(ps[3].address, "minority")]
    assert Leaf.objects.filter(kind="validation_round", subject=f"round:{r.pk}").count() == 1
    assert (
        Round.objects.get(pk=r.pk).anchor_leaf_id
        == Leaf.objects.get(kind="validation_round", subject=f"round:{r.pk}").pk
    )


@pytest.mark.parametrize("broker_kind", BROKERS)
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_close_then_restarted_closes_each_round_once(broker, tmp_path):
    from quorums.services import verdicts_submit

    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000)
    rounds = [
        services.round_open(
            idao_id=idao.pk, subject_kind=PROBE, subject_ref=f"batch-{i}", content_hash="0x" + f"{i + 0x50:02x}" * 32
        )
        for i in range(3)
    ]
    verdicts_submit(
        items=[
            {"round_id": r.pk, **signed(p, r, v, "no" if v == "reject" else "")}
            for r in rounds
            for p, v in zip(ps, ["reject", "approve", "approve", "approve"], strict=True)
        ]
    )
    assert broker.llen("celery") == 1  # one rounds_close_task for the three decisive rounds

    # Killed inside the batch's closing transaction: every round's slash and anchor written, nothing committed.
    env, log = _kill_a_worker_inside_the_close(tmp_path)
    ids = [r.pk for r in rounds]
    assert not Round.objects.filter(pk__in=ids, state="closed").exists()
    assert not Slash.objects.filter(round_id__in=ids).exists()
    assert not Leaf.objects.filter(kind="validation_round").exists()

    second = start_worker(env, log)
    try:
        wait_for(lambda: Round.objects.filter(pk__in=ids, state="closed").count() == 3, timeout=90, interval=0.5)
        time.sleep(3)  # room for any duplicate redelivery to run (it must be a no-op)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=20)
    for r in rounds:
        assert [(s.validator.address, s.reason) for s in Slash.objects.filter(round=r)] == [(ps[0].address, "minority")]
        leaves = Leaf.objects.filter(kind="validation_round", subject=f"round:{r.pk}")
        assert leaves.count() == 1 and Round.objects.get(pk=r.pk).anchor_leaf_id == leaves.get().pk
