"""Provenance explorer with 100,000 DATs: server time of a filtered page (iDAO + class) and of a
deep page, with the number of queries, each beside a baseline measured in the same run:
  - the same filtered request with the explorer's composite indexes dropped (inside a transaction
    that is rolled back), i.e. an unindexed query;
  - the same deep page fetched with naive OFFSET pagination through the same view and template.
The query count is measured at 1,000 and at 100,000 DATs: it must not grow with the data.

    .venv/bin/python bench/explorer.py [N]   (own database bench_explorer → test_bench_explorer)

Prints one JSON line per figure."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

# Replace the script folder on sys.path (bench/siwe.py would shadow the siwe package) with the repo root.
sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_explorer")
os.environ.setdefault(
    "SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef"
)  # settings require one on PostgreSQL
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/4")
os.environ.setdefault("PORTAL_HTTPS", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from contributions.models import Contribution  # noqa: E402
from dats import selectors  # noqa: E402
from dats import views as explorer_views  # noqa: E402
from dats.models import DAT  # noqa: E402
from idaos.models import IDAO  # noqa: E402
from portal.models import User  # noqa: E402
from quorums.models import Quorum, Round  # noqa: E402
from tests.personas import many  # noqa: E402

N_IDAOS, N_OWNERS, REPEAT = 20, 500, 25


def _insert(model, start: int, stop: int, exprs: dict[str, str]) -> None:
    """INSERT … SELECT over generate_series(start, stop) AS g: every concrete column either gets
    an SQL expression from `exprs` or its Python default as a parameter."""
    cols, values, params = [], [], []
    for field in model._meta.concrete_fields:
        cols.append(connection.ops.quote_name(field.column))
        if field.name in exprs:
            values.append(exprs[field.name])
        else:
            default = field.get_default()
            values.append("%s")
            params.append(field.get_db_prep_save(default, connection))
    # Table, columns and expressions come from this script and the models, never from input.
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(cols)}) SELECT {', '.join(values)} "  # noqa: S608
        f"FROM generate_series({int(start)}, {int(stop)}) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def load(start: int, stop: int, *, idaos: list[int], owners: list[int], quorum: int, total: int) -> None:
    idao_arr = "ARRAY[" + ",".join(map(str, idaos)) + "]"
    owner_arr = "ARRAY[" + ",".join(map(str, owners)) + "]"
    idao = f"({idao_arr})[1 + mod(g, {len(idaos)})]"
    owner = f"({owner_arr})[1 + mod(g * 7, {len(owners)})]"
    sha = "'0x' || encode(sha256(('c' || g)::bytea), 'hex')"
    kec = "'0x' || encode(sha256(('k' || g)::bytea), 'hex')"
    at = f"now() - ({total} - g) * interval '30 seconds'"
    with transaction.atomic():
        _insert(
            Contribution,
            start,
            stop,
            {
                "id": "g",
                "public_id": "'bench' || g",
                "idao": idao,
                "owner": owner,
                "kind": "'dataset'",
                "title": "'Dataset ' || g",
                "storage_name": "'bench/' || g",
                "size": "g",
                "sha256": sha,
                "keccak256": kec,
                "state": "'accepted'",
                "created_at": at,
                "updated_at": at,
            },
        )
        _insert(
            Round,
            start,
            stop,
            {
                "id": "g",
                "quorum": str(quorum),
                "idao": idao,
                "subject_kind": "'contribution'",
                "subject_ref": "g::text",
                "content_hash": sha,
                "seed": "'0x00'",
                "state": "'closed'",
                "outcome": "'accepted'",
                "opened_at": at,
                "deadline": at,
                "closed_at": at,
            },
        )
        _insert(
            DAT,
            start,
            stop,
            {
                "id": "g",
                "klass": "(ARRAY['dataset','model','agent'])[1 + mod(g, 3)]",
                "title": "'Dataset ' || g",
                "owner": owner,
                "idao": idao,
                "contribution": "g",
                "round": "g",
                "sha256": sha,
                "keccak256": kec,
                "size": "g",
                "allowed_uses": "'[\"training\"]'::jsonb",
                "anchor_leaf_id": "g",
                "minted_at": at,
            },
        )
    with connection.cursor() as cursor:
        for table in ("dats_contribution", "quorums_round", "dats_dat"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {int(stop)})")
            cursor.execute(f"ANALYZE {table}")


def timed(client: Client, url: str) -> tuple[float, int]:
    """Median server time (ms) over REPEAT requests, and the query count of one request."""
    client.get(url)  # warm
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(samples), len(ctx.captured_queries)


def cursor_after_pages(filters: selectors.Filters, pages: int) -> str:
    cursor = ""
    for _ in range(pages):
        cursor = selectors.dat_page(filters, cursor=cursor).next_cursor
    return cursor


def naive_page(filters: selectors.Filters, *, cursor: str = "", limit: int = selectors.PAGE_SIZE) -> selectors.Page:
    """The baseline: OFFSET pagination (cursor = page number)."""
    number = int(cursor or 0)
    rows = list(
        selectors.filtered(filters)
        .select_related("idao", "owner")
        .order_by("-minted_at", "-id")[number * limit : (number + 1) * limit + 1]
    )
    return selectors.Page(rows=rows[:limit], next_cursor=str(number + 1) if len(rows) > limit else None)


def main(total: int) -> None:
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(total)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def run(total: int) -> None:
    people = many(N_OWNERS, start=900_000)
    User.objects.bulk_create([User(address=p.address) for p in people])
    owners = list(User.objects.order_by("pk").values_list("pk", flat=True))
    IDAO.objects.bulk_create(
        [IDAO(slug=f"bench-{i}", name=f"Bench {i}", domain="science", created_by_id=owners[0]) for i in range(N_IDAOS)]
    )
    idaos = list(IDAO.objects.order_by("pk").values_list("pk", flat=True))
    quorum = Quorum.objects.create(name="bench").pk
    client = Client()
    url = "/dats/?idao=bench-3&klass=dataset"
    deep_pages = 2000  # OFFSET 50,000 for the baseline
    unfiltered = selectors.Filters()

    small = min(1000, total)
    load(1, small, idaos=idaos, owners=owners, quorum=quorum, total=total)
    _, queries_small = timed(client, url)
    load(small + 1, total, idaos=idaos, owners=owners, quorum=quorum, total=total)
    assert DAT.objects.count() == total

    filtered_ms, queries = timed(client, url)
    deep_cursor = cursor_after_pages(unfiltered, deep_pages)
    deep_ms, deep_queries = timed(client, f"/dats/?after={deep_cursor}")

    # Baseline 1: the same filtered request without the explorer's indexes (rolled back after).
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name in ("dat_idao_klass_minted", "dat_idao_minted", "dat_klass_minted", "dat_minted"):
                cursor.execute(f"DROP INDEX {name}")
        unindexed_ms, _ = timed(client, url)
        transaction.set_rollback(True)

    # Baseline 2: the same deep page through the same view, with OFFSET pagination.
    original = explorer_views.selectors.dat_page
    explorer_views.selectors.dat_page = naive_page
    try:
        offset_ms, _ = timed(client, f"/dats/?after={deep_pages}")
    finally:
        explorer_views.selectors.dat_page = original

    figures = [
        ("filtered_page_server_ms", filtered_ms, unindexed_ms, "same request, explorer indexes dropped"),
        (f"deep_page_{deep_pages + 1}_server_ms", deep_ms, offset_ms, "same page with OFFSET pagination"),
    ]
    for name, value, baseline, what in figures:
        print(
            json.dumps(
                {
                    "bench": "explorer",
                    "figure": name,
                    "value": round(value, 2),
                    "unit": "ms (median, full Django request)",
                    "baseline": round(baseline, 2),
                    "baseline_is": what,
                    "ratio": round(value / baseline, 4),
                    "dats": total,
                    "target": {"max_ms": 50},
                }
            )
        )
    print(
        json.dumps(
            {
                "bench": "explorer",
                "figure": "queries_per_filtered_page",
                "value": queries,
                "unit": "queries",
                "baseline": queries_small,
                "baseline_is": f"same page with {small} DATs",
                "ratio": round(queries / queries_small, 3),
                "deep_page_queries": deep_queries,
                "dats": total,
                "target": {"ratio": 1.0},
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
