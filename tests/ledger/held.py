"""Another connection's transaction, held open while a test races it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection, transaction

from tests.celery_helpers import wait_for


class HeldTransaction:
    """`work` run in another thread's database transaction (its own connection), which stays
    open, holding whatever `work` locked or wrote, until release() commits it."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._holding, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(work,))
        self._thread.start()
        assert self._holding.wait(60), "the held transaction did not start"

    def _hold(self, work: Callable[[], object]) -> None:
        try:
            with transaction.atomic():
                work()
                self._holding.set()
                self._release.wait(60)
        finally:
            connection.close()

    def release(self) -> None:
        self._release.set()
        self._thread.join(60)


def after_it_commits(held: HeldTransaction, post: Callable[[], object], *, waiting: Callable[[], bool]) -> None:
    """Run `post` in a thread of its own, wait until `waiting()` shows it blocked on the held
    transaction, release (commit) that, and wait for `post` to finish."""

    def run() -> None:
        try:
            post()
        finally:
            connection.close()

    poster = threading.Thread(target=run)
    poster.start()
    wait_for(waiting, timeout=60, interval=0.01)
    held.release()
    poster.join(60)
