"""A real `celery worker` process for the crash test. With QUORUMS_PAUSE_FILE set, it pauses
inside the round-closing transaction (after slashes and the anchor are written, before commit),
touching that file so the test knows when to SIGKILL it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from portal.celery import app  # noqa: E402
from quorums import hooks  # noqa: E402
from tests.quorums import factories  # noqa: E402, F401  (registers the probe subject kind)

pause_file = os.environ.get("QUORUMS_PAUSE_FILE")
if pause_file:

    def pause(rounds) -> None:
        Path(pause_file).write_text(str(rounds[0].pk))
        time.sleep(300)

    hooks.on_rounds_closed(pause)

if __name__ == "__main__":
    # Scan for deliveries abandoned by a dead worker every second (kombu's default is ~100 s).
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            "celery",
            "--without-gossip",
            "--without-mingle",
            # The heartbeat stays on, as in bin/run: its 2 s timer is what wakes the worker's
            # event loop on RabbitMQ, which otherwise polls up to 10 s before it sees SIGTERM.
            "-n",
            f"crash-test-{os.getpid()}@%h",
        ]
    )
