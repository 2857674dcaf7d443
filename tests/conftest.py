from __future__ import annotations

import os

import pytest
from django.test import Client

from tests.personas import ALICE, BOB, CAROL, MALLORY
from tests.siwe_helpers import sign_in

# Playwright's sync API runs an event loop in the test thread; Django's async-safety guard would
# otherwise refuse the ORM calls that browser tests make to set up data.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = ("celery.contrib.pytest",)


@pytest.fixture
def csrf_client() -> Client:
    """A client that enforces CSRF, as browsers and scripts experience it."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def signed_in():
    """signed_in(persona) -> a CSRF-enforcing client with a session for that persona."""

    def make(who=ALICE) -> Client:
        client = Client(enforce_csrf_checks=True)
        sign_in(client, who)
        client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
        return client

    return make


@pytest.fixture
def alice():
    return ALICE


@pytest.fixture
def bob():
    return BOB


@pytest.fixture
def carol():
    return CAROL


@pytest.fixture
def mallory():
    return MALLORY


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache (Redis); each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
