from __future__ import annotations

import json
import os
import time

import pytest
from django.test import Client

from tests import flush
from tests.personas import ALICE, BOB, CAROL, MALLORY
from tests.siwe_helpers import sign_in

flush.install()  # transactional tests empty their tables with DELETE, not TRUNCATE (tests/flush.py)

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


# --- Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, with a test EIP-1193
# wallet injected into pages: it announces itself over EIP-6963 and signs with a persona's key.
# One Playwright instance serves the whole session (its sync API cannot be started twice).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

PROVIDER_JS = """
(() => {
  const config = %(config)s;
  const provider = {
    isTestWallet: true,
    async request({ method, params }) {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [config.address.toLowerCase()];  // wallets often answer lowercase
        case "eth_chainId":
          return "0x" + config.chainId.toString(16);
        case "personal_sign":
        case "eth_signTypedData_v4": {
          const result = await window.__testWalletSign(method, JSON.stringify(params || []));
          if (result === "REJECT") throw { code: 4001, message: "User rejected the request." };
          return result;
        }
        default:
          throw { code: 4200, message: "Unsupported method " + method };
      }
    },
    on() {},
    removeListener() {},
  };
  const info = { uuid: "0b7c5b0e-test-wallet", name: "Test Wallet", icon: "data:image/svg+xml,%%3Csvg/%%3E", rdns: "org.example.testwallet" };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test; uncaught page errors are collected in page.errors."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


@pytest.fixture
def wallet():
    """wallet(page, persona, reject=False, chain_id=1): inject a test wallet that signs as persona.
    Returns a list that records every signing request the page made."""

    def install(page, who, *, reject: bool = False, chain_id: int = 1) -> list:
        requests: list = []

        def sign(method: str, params_json: str) -> str:
            params = json.loads(params_json)
            requests.append((method, params))
            if reject:
                return "REJECT"
            if method == "personal_sign":
                data = params[0]
                text = bytes.fromhex(data[2:]).decode() if data.startswith("0x") else data
                return who.sign_text(text)
            typed = params[1]
            return who.sign_typed(json.loads(typed) if isinstance(typed, str) else typed)

        page.expose_function("__testWalletSign", sign)
        page.add_init_script(PROVIDER_JS % {"config": json.dumps({"address": who.address, "chainId": chain_id})})
        return requests

    return install


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(django_db_setup, django_db_blocker):
    """Killed worker processes may leave PostgreSQL sessions behind; end them so the test
    database can be dropped at the end of the run."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    time.sleep(0.2)


# --- Celery: tests that claim a flow crosses the broker run a real worker (celery.contrib.pytest's
# celery_worker, in a thread) on the portal's own Celery app and the Redis broker.


@pytest.fixture(scope="session")
def celery_config():
    from django.conf import settings

    return {"broker_url": settings.CELERY_BROKER_URL, "task_acks_late": True, "task_reject_on_worker_lost": True}


AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _drop_broker_connections(app) -> None:
    """Close the pooled broker connections (kombu's global pools, which app.pool is one of) so the
    next publish connects to the current URL."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.__dict__.pop("amqp", None)  # queues, routes and producers are rebuilt from the current conf


@pytest.fixture
def broker_kind() -> str:
    """Which broker the Celery fixtures use: "redis" (the default) or "amqp" (RabbitMQ). Tests that
    prove delivery guarantees run on both with `@pytest.mark.parametrize("broker_kind", BROKERS)`."""
    return "redis"


@pytest.fixture
def celery_app(broker_kind, monkeypatch):
    """The real portal Celery app, not a throwaway test app, on the broker of `broker_kind`:
    Redis from the environment, or RabbitMQ at TEST_AMQP_URL (worker subprocesses inherit it)."""
    from celery.contrib.testing import tasks  # noqa: F401  registers celery.ping

    from portal.celery import app

    if broker_kind == "redis":
        # A worker stopping waits for its outstanding BRPOP to return: kombu's 1 s timeout made
        # every in-process worker's teardown last about a second. 0.1 s here (tests only).
        options = app.conf.broker_transport_options
        app.conf.broker_transport_options = {**(options or {}), "polling_interval": 0.1}
        _drop_broker_connections(app)
        try:
            yield app
        finally:
            app.conf.broker_transport_options = options
            _drop_broker_connections(app)
        return
    conf = app.conf
    old = (conf.broker_url, conf.broker_transport_options, conf.task_default_queue_type)
    # RabbitMQ as README's Deployment recommends it: quorum queues (CELERY_QUEUE_TYPE for the
    # worker subprocesses, which read settings), and publisher confirms, so a message counted
    # right after the publishing commit is really queued.
    monkeypatch.setenv("CELERY_BROKER_URL", AMQP_URL)  # Celery lets the env var win over conf
    monkeypatch.setenv("CELERY_QUEUE_TYPE", "quorum")
    conf.broker_url, conf.broker_transport_options = AMQP_URL, {"confirm_publish": True}
    conf.task_default_queue_type = "quorum"
    _drop_broker_connections(app)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete("celery")  # whatever an earlier run left (maybe a classic queue)
    try:
        yield app
    finally:
        conf.broker_url, conf.broker_transport_options, conf.task_default_queue_type = old
        _drop_broker_connections(app)


def _tick_the_test_worker(sender, worker, consumer, **kwargs) -> None:
    """The in-process test worker's event loop wakes only for its timers and sockets, and on
    RabbitMQ it has no timer: it slept up to 10 s (kombu's longest poll) before it saw
    start_worker's stop request at teardown. A timer every 0.2 s bounds that wait (it runs in
    the worker's thread, which sends this signal)."""
    hub = getattr(worker, "hub", None)
    if hub is not None:
        hub.call_repeatedly(0.2, lambda: None)


def _connect_test_worker_tick() -> None:
    from celery.contrib.testing.worker import test_worker_started as started

    started.connect(_tick_the_test_worker, weak=False, dispatch_uid="tests.tick_the_test_worker")


_connect_test_worker_tick()


@pytest.fixture
def celery_worker_pool():
    return "solo"


@pytest.fixture(scope="session")
def celery_worker_parameters():
    # Results are ignored in this project, so the ping round-trip check cannot work.
    return {"perform_ping_check": False, "queues": ("celery", "notifications")}


@pytest.fixture
def quick_retries(settings):
    settings.PORTAL_TASK_RETRY_DELAY = 0.2
    settings.PORTAL_TASK_MAX_RETRIES = 2


class AmqpQueues:
    """The few Redis-client calls the tests make on the broker, answered by RabbitMQ: `llen` counts
    a queue's ready messages (Redis' priority sub-lists do not exist there: 0), `delete` purges."""

    def __init__(self, app) -> None:
        self.connection = app.connection_for_write()
        self.channel = self.connection.default_channel

    def llen(self, name: str) -> int:
        from amqp.exceptions import NotFound

        if "\x06\x16" in name:
            return 0
        try:
            return self.channel.queue_declare(queue=name, passive=True).message_count
        except NotFound:
            self.channel = self.connection.channel()  # a failed passive declare closes the channel
            return 0

    def delete(self, *names: str) -> None:
        for name in names:
            if "\x06\x16" not in name and name not in ("unacked", "unacked_index", "unacked_mutex"):
                self.channel.queue_purge(name) if self.llen(name) else None

    def close(self) -> None:
        self.connection.release()


@pytest.fixture
def broker(celery_app, broker_kind):
    """The broker's "celery" queue, emptied of messages (and unacked deliveries) left by earlier
    tests: a Redis client, or for RabbitMQ an object answering the same `llen`/`delete` calls."""
    from django.conf import settings

    from tests.celery_helpers import QUEUE_KEYS

    keys = (*QUEUE_KEYS, "notifications", "unacked", "unacked_index", "unacked_mutex")
    if broker_kind == "amqp":
        client = AmqpQueues(celery_app)
        client.delete(*keys)
        yield client
        client.delete(*keys)
        client.close()
        return
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*keys)
    yield client
    client.delete(*keys)
