"""Helpers for tests that cross the real Celery broker (Redis, or RabbitMQ where parametrised)."""

from __future__ import annotations

import time

# Tests of delivery guarantees (acks_late, reject_on_worker_lost, redelivery) run on both brokers:
# `@pytest.mark.parametrize("broker_kind", BROKERS)` (the broker_kind fixture in tests/conftest.py).
BROKERS = ("redis", "amqp")

# The "celery" queue's Redis lists: priority 0 is the list itself, the lower priorities (3, 6, 9;
# routing is sent at 3) are suffixed lists. Tests count and clear them all.
QUEUE_KEYS = ("celery", *(f"celery\x06\x16{p}" for p in (3, 6, 9)))


def queued(client) -> int:
    """Messages waiting in the "celery" queue, whatever their priority."""
    return sum(client.llen(key) for key in QUEUE_KEYS)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
