"""Fan-out of one event to 10,000 subscribers (in-app inbox row + a personal webhook each, the
webhook deliveries written and enqueued) by one real Celery worker (solo pool), timed from the
emitting commit to the end of the fan-out task, next to a naive per-recipient ORM loop
(get_or_create per row, one enqueue per webhook delivery) doing the same work for a second event
in the same run. Both results are checked: one row per recipient and channel, one per webhook.

Run: .venv/bin/python bench/notifications.py [SUBSCRIBERS]   (a dedicated PostgreSQL test database)
Prints one JSON line: {"bench","figure","value","unit","baseline","ratio","target"}."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_notifications")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("PORTAL_HTTPS", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")
os.environ.setdefault("CONN_MAX_AGE", "0")

import django  # noqa: E402

django.setup()

from celery.contrib.testing.worker import start_worker  # noqa: E402
from celery.signals import task_postrun  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from eth_utils import to_checksum_address  # noqa: E402

from idaos.models import IDAO, Membership  # noqa: E402
from notifications.models import Channel, Notification, Webhook, WebhookDelivery  # noqa: E402
from notifications.tasks import webhook_deliver  # noqa: E402
from portal.celery import app  # noqa: E402
from portal.events import emit  # noqa: E402
from portal.models import User  # noqa: E402


def build(n: int) -> IDAO:
    users = User.objects.bulk_create(
        [User(address=to_checksum_address(f"0x{i + 1:040x}")) for i in range(n)], batch_size=5000
    )
    idao = IDAO.objects.create(slug="bench", name="Bench", domain="science", created_by=users[0])
    now = timezone.now()
    Membership.objects.bulk_create(
        [Membership(idao=idao, user=u, status="active", joined_at=now, requested_at=now) for u in users],
        batch_size=5000,
    )
    # A refused target (loopback, private targets not allowed): deliveries fail fast without traffic.
    Webhook.objects.bulk_create(
        [Webhook(owner=u, url="http://127.0.0.1:9/hook", secret="s") for u in users]  # noqa: S106, batch_size=5000
    )
    return idao


def naive(event_id: int, user_ids: list[int]) -> None:
    """The obvious loop: one recipient at a time, one enqueue per webhook delivery."""
    for uid in user_ids:
        Notification.objects.get_or_create(event_id=event_id, recipient_id=uid, channel=Channel.INAPP)
        for hook_id in Webhook.objects.filter(owner_id=uid, active=True).values_list("id", flat=True):
            delivery, created = WebhookDelivery.objects.get_or_create(event_id=event_id, webhook_id=hook_id)
            if created:
                webhook_deliver.delay([delivery.pk])


def main(n: int) -> None:
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    idao = build(n)
    user_ids = list(Membership.objects.filter(idao=idao).values_list("user_id", flat=True))
    import redis

    broker = redis.Redis.from_url(app.conf.broker_url)
    # The worker runs the fan-out; the webhook deliveries it enqueues wait in a queue of their own
    # (counted below), so sending them does not run into the measured window.
    app.conf.task_routes = {"notifications.tasks.webhook_deliver": {"queue": "bench_webhooks"}}
    broker.delete("celery", "notifications", "bench_webhooks")
    done = threading.Event()
    finished: list[float] = []

    def on_postrun(sender=None, **_):
        if sender is not None and sender.name == "notifications.tasks.fanout":
            finished.append(time.perf_counter())
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=("celery", "notifications"), loglevel="WARNING"
    ):
        with transaction.atomic():
            event = emit(kind="proposal.voting_opened", idao=idao, subject="proposal:1", payload={"title": "bench"})
        started = time.perf_counter()
        assert done.wait(120), "the fan-out task did not finish"
        value = finished[0] - started
    assert Notification.objects.filter(event=event, channel=Channel.INAPP).count() == n
    assert WebhookDelivery.objects.filter(event=event).count() == n
    enqueued = broker.llen("bench_webhooks")
    assert enqueued == -(-n // 200), enqueued  # every delivery enqueued, 200 per task
    broker.delete("bench_webhooks")

    with transaction.atomic():
        second = emit(kind="proposal.voting_opened", idao=idao, subject="proposal:2", payload={"title": "naive"})
    broker.delete("celery")
    start = time.perf_counter()
    naive(second.pk, user_ids)
    baseline = time.perf_counter() - start
    assert Notification.objects.filter(event=second, channel=Channel.INAPP).count() == n
    assert WebhookDelivery.objects.filter(event=second).count() == n
    broker.delete("celery", "notifications", "bench_webhooks")
    print(
        f"fan-out of one event to {n:,} subscribers: {value:.3f} s (worker), naive loop {baseline:.3f} s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "notifications",
                "figure": f"fan-out of one event to {n:,} subscribers (in-app + webhook enqueue), one worker",
                "value": round(value, 3),
                "unit": "s",
                "baseline": round(baseline, 3),
                "ratio": round(baseline / value, 1),
                "target": {"value": "<= 2"},
            }
        )
    )
    with connection.cursor() as cursor:  # the worker thread's session outlives its context
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
