"""Usage events per second through POST /api/v1/usage: 8 reporter processes (as 8 web workers
would serve them), each posting reports of 1,000 events with its own bearer token, every report
charged its CREDIT fee into the (sharded) reward pool. Beside it, in the same run: a bare
multi-row INSERT of the same rows by 8 processes into a table shaped like the events table.

Run: .venv/bin/python bench/usage.py   (its own database, recreated each run)"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_usage")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("PORTAL_HTTPS", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef")  # required on PostgreSQL
os.environ.setdefault("STATIC_MANIFEST", "false")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from ledger import owners  # noqa: E402
from ledger import services as ledger  # noqa: E402
from portal.models import ApiToken  # noqa: E402
from tests.factories import IdaoFactory, MembershipFactory, user_of  # noqa: E402
from tests.personas import many  # noqa: E402
from tests.rewards.factories import make_dat, make_model  # noqa: E402

CTX = multiprocessing.get_context("fork")
REPORTERS = 8
BATCH = 1000
BARE_INSERT = (
    "INSERT INTO bench_usage_bare (reporter_id, idempotency_key, idao_id, model_version_id, kind,"
    " units, weighted, fee, occurred_at) VALUES "
)


def _reporter(token: str, bodies: list[str], start_at: float, out) -> None:
    client = Client()
    time.sleep(max(0.0, start_at - time.time()))
    accepted = 0
    try:
        for body in bodies:
            response = client.post(
                "/api/v1/usage", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            assert response.status_code == 200, response.content
            accepted += response.json()["accepted"]
    finally:
        connection.close()
        out.put((accepted, time.time()))


def _inserter(rows: list[list[tuple]], start_at: float, out) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    try:
        for batch in rows:
            with connection.cursor() as cursor:
                marks = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
                sql = BARE_INSERT + marks
                cursor.execute(sql, [x for row in batch for x in row])
    finally:
        connection.close()
        out.put((sum(len(b) for b in rows), time.time()))


def _run(target, args_per_process: list[tuple]) -> float:
    """Events/s of the processes, from a common start to the last one's end."""
    connections.close_all()
    out = CTX.Queue()
    start_at = time.time() + 2.0
    procs = [CTX.Process(target=target, args=(*args, start_at, out)) for args in args_per_process]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(n for n, _ in results) / (max(t for _, t in results) - start_at)


def main(reports_each: int) -> None:
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    idao = IdaoFactory(slug="usage")
    owner = user_of(many(1, start=600_000)[0])
    data = make_dat(idao=idao, owner=owner, seats=[])
    version = make_model(
        idao=idao,
        artifact_hash=make_dat(idao=idao, owner=owner, seats=[], klass="model").sha256,
        manifest=[f"dat:{data.pk}"],
    )
    people = many(REPORTERS, start=600_100)
    tokens, reporters = [], []
    for i, p in enumerate(people):
        user = user_of(p)
        MembershipFactory(idao=idao, user=user)
        raw, prefix, key_hash = ApiToken.generate()
        ApiToken.objects.create(user=user, name="bench", prefix=prefix, key_hash=key_hash, scopes=["usage:report"])
        tokens.append(raw)
        reporters.append(user)
        ledger.mint(to=owners.user(p.address), asset="CREDIT", amount=10**15, idempotency_key=f"bench:usage:{i}")
    now = timezone.now().isoformat()

    def events(i: int, r: int) -> list[dict]:
        return [
            {
                "model_id": version.model_id,
                "version": version.number,
                "kind": "inference",
                "units": 1 + e % 5,
                "occurred_at": now,
                "idempotency_key": f"r{i}-{r}-{e}",
            }
            for e in range(BATCH)
        ]

    bodies = [[json.dumps({"events": events(i, r)}) for r in range(reports_each)] for i in range(REPORTERS)]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_usage_bare (id bigserial PRIMARY KEY, reporter_id bigint, idempotency_key varchar(100),"
            " idao_id bigint, model_version_id bigint, kind varchar(12), units bigint, weighted bigint, fee bigint,"
            " occurred_at timestamptz, UNIQUE (reporter_id, idempotency_key))"
        )
    stamp = timezone.now()
    bare_rows = [
        [
            [
                (
                    reporters[i].pk,
                    e["idempotency_key"],
                    idao.pk,
                    version.pk,
                    "inference",
                    e["units"],
                    e["units"],
                    e["units"],
                    stamp,
                )
                for e in events(i, r)
            ]
            for r in range(reports_each)
        ]
        for i in range(REPORTERS)
    ]
    rate = _run(_reporter, [(tokens[i], bodies[i]) for i in range(REPORTERS)])
    baseline = _run(_inserter, [(bare_rows[i],) for i in range(REPORTERS)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM rewards_usageevent")
        stored = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM ledger_transaction WHERE kind = 'fee'")
        fees = cursor.fetchone()[0]
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    assert stored == REPORTERS * reports_each * BATCH and fees == REPORTERS * reports_each
    print(
        json.dumps(
            {
                "bench": "usage",
                "figure": "usage_events_per_second",
                "value": round(rate, 1),
                "unit": "events/s",
                "baseline": round(baseline, 1),
                "ratio": round(rate / baseline, 3),
                "target": {"value": ">= 10000"},
                "reporters": REPORTERS,
                "batch": BATCH,
                "reports": REPORTERS * reports_each,
                "fee_transactions": fees,
                "baseline_is": "8 processes, one multi-row INSERT per 1,000 rows into a table of the same shape",
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(int(os.environ.get("BENCH_REPORTS_EACH", 5)))
