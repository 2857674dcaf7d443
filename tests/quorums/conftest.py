from __future__ import annotations

import pytest


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
