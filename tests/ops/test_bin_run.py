"""bin/run's process set (web, worker, beat on the embedded default) under steady demo load, with
its worker SIGKILLed in the middle: web answers throughout, bin/run logs why the worker died and
starts it again, and the new worker processes tasks (issue 11, point 11)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.celery_helpers import wait_for

from .processes import ROOT, embedded_env, free_port, get, stop, wait_until_answers

BEFORE_KILL = 6  # seconds of demo load before the worker is killed (a seal or more: beat seals every 5 s)
AFTER_KILL = 6  # and after it is back


def log_text(path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.slow
def test_bin_run_restarts_a_killed_worker_and_web_answers_throughout(tmp_path):
    var, port = tmp_path / "var", free_port()
    out = tmp_path / "bin-run.log"
    run = subprocess.Popen(
        [str(ROOT / "bin/run")],
        cwd=ROOT,
        env=embedded_env(var, PORT=str(port)),
        stdout=out.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    probes: list[tuple[float, int | str]] = []
    done = threading.Event()

    def load() -> None:  # a steady reader of pages next to the demo's own beat-driven work
        paths = ("/healthz", "/", "/readyz", "/healthz")
        i = 0
        while not done.is_set():
            try:
                status = get(port, paths[i % len(paths)], timeout=5)[0]
            except OSError as exc:
                status = type(exc).__name__
            probes.append((time.monotonic(), status))
            i += 1
            done.wait(0.25)

    worker_log = var / "worker.log"
    try:
        wait_for(lambda: "iDAO Portal is running" in log_text(out), timeout=300, interval=0.5)
        wait_until_answers(port, timeout=60, proc=run)
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        # The demo's beat-driven tasks run on the worker.
        wait_for(lambda: " succeeded in " in log_text(worker_log), timeout=120, interval=0.5)
        time.sleep(BEFORE_KILL)  # the load runs for this long (a duration under test, not a wait for state)

        worker_pid = int(re.findall(r"worker started \(pid (\d+)\)", log_text(out))[-1])
        os.kill(worker_pid, signal.SIGKILL)
        restarted = wait_for(
            lambda: re.search(
                rf"worker \(pid {worker_pid}\) killed by signal 9 \(KILL\) after \d+s; restarting it"
                r"[^\n]*\n(?:.*\n)*?bin/run: worker started \(pid (\d+)\)",
                log_text(out),
            ),
            timeout=60,
            interval=0.2,
        )
        assert int(restarted[1]) != worker_pid
        offset = len(log_text(worker_log))
        # The new worker takes the demo's tasks again.
        wait_for(lambda: " succeeded in " in log_text(worker_log)[offset:], timeout=120, interval=0.5)
        time.sleep(AFTER_KILL)
        done.set()
        loader.join(10)

        failed = [(t, s) for t, s in probes if s != 200]
        assert len(probes) > (BEFORE_KILL + AFTER_KILL) * 2 and not failed, failed[:10]
        assert "Stopping the portal" not in log_text(out)

        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C stops them all
        assert run.wait(timeout=60) == 0
        assert "Stopping the portal" in log_text(out)
    finally:
        done.set()
        stop(run, signal.SIGTERM, timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # nothing of this process group survives
