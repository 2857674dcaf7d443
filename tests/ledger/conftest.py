from __future__ import annotations

import pytest


@pytest.fixture
def celery_app():
    """The real portal Celery app (Redis broker from the environment), not a throwaway test app."""
    from portal.celery import app

    return app


@pytest.fixture
def celery_worker_pool():
    return "solo"


@pytest.fixture
def celery_worker_parameters():
    # Results are ignored in this project, so the ping round-trip check cannot work.
    return {"perform_ping_check": False, "queues": ("celery",)}
