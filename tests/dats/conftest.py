from __future__ import annotations

import pytest

# The "celery" queue's Redis lists: priority 0 is the list itself, the lower priorities (3, 6, 9;
# routing is sent at 3) are suffixed lists. Tests count and clear them all.
QUEUE_KEYS = ("celery", *(f"celery\x06\x16{p}" for p in (3, 6, 9)))


def queued(client) -> int:
    """Messages waiting in the "celery" queue, whatever their priority."""
    return sum(client.llen(key) for key in QUEUE_KEYS)


@pytest.fixture(scope="session")
def celery_config():
    from django.conf import settings

    return {"broker_url": settings.CELERY_BROKER_URL, "task_acks_late": True, "task_reject_on_worker_lost": True}


@pytest.fixture
def celery_app():
    """The real portal Celery app (Redis broker from the environment), not a test app."""
    from celery.contrib.testing import tasks  # noqa: F401  registers celery.ping

    from portal.celery import app

    return app


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {"perform_ping_check": False, "queues": ("celery",)}


@pytest.fixture
def quick_retries(settings):
    settings.PORTAL_TASK_RETRY_DELAY = 0.2
    settings.PORTAL_TASK_MAX_RETRIES = 2


@pytest.fixture
def broker(celery_app):
    """The Redis broker, emptied of messages (and unacked deliveries) left by earlier tests."""
    import redis
    from django.conf import settings
    from django.db import connections

    # Worker threads open their own connections; closing them after each task keeps the test
    # database droppable at the end of the session.
    connections["default"].settings_dict["CONN_MAX_AGE"] = 0
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*QUEUE_KEYS, "unacked", "unacked_index", "unacked_mutex")
    yield client
    client.delete(*QUEUE_KEYS, "unacked", "unacked_index", "unacked_mutex")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
