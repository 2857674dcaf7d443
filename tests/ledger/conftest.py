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


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(django_db_setup, django_db_blocker):
    """Worker, live-server and killed-process sessions must not keep the test database from being dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
