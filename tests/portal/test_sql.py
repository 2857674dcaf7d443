"""portal.sql: update_by_pk (one UPDATE giving many rows their own values) and bulk_insert (many
rows in one INSERT, as bulk_create stores them)."""

from __future__ import annotations

import pytest

from portal.models import ParkedTask
from portal.sql import bulk_insert, update_by_pk


@pytest.mark.django_db
def test_update_by_pk_gives_each_row_its_own_values_sets_constants_and_honours_where(
    django_assert_num_queries,
):
    a, b, c = (
        ParkedTask.objects.create(task_name=name, task_id=name, error="boom", resolved=resolved)
        for name, resolved in (("a", False), ("b", False), ("c", True))
    )
    rows = {
        a.pk: {"retries": 1, "args": [1, "one"]},
        b.pk: {"retries": 2, "args": [{"two": 2}]},
        c.pk: {"retries": 3, "args": []},
    }
    with django_assert_num_queries(1):
        updated = update_by_pk(ParkedTask, rows, where={"resolved": False}, error="handled")
    assert updated == 2
    got = {p.task_name: (p.retries, p.args, p.error) for p in ParkedTask.objects.all()}
    assert got == {"a": (1, [1, "one"], "handled"), "b": (2, [{"two": 2}], "handled"), "c": (0, [], "boom")}


@pytest.mark.django_db
def test_update_by_pk_with_no_rows_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert update_by_pk(ParkedTask, {}) == 0


@pytest.mark.django_db
def test_bulk_insert_stores_rows_exactly_as_bulk_create_and_numbers_them_in_order(django_assert_num_queries):
    # Text that needs escaping on the way in (quotes, backslashes, newlines, non-ASCII), JSON of
    # every shape, a field's default and auto_now_add.
    texts = ['a "quoted" \\ back\\slash', "line\nbreak\ttab", "ünïcødé ✓ 𝄞", "", "{'not': json}"]
    args = [[1, "one"], [{"k": 'v "q"'}], [], [None, True, 1.5], ["\\u0041"]]

    def made(prefix: str) -> list[ParkedTask]:
        return [
            ParkedTask(task_name=f"{prefix}{i}", task_id=f"{prefix}{i}", args=a, error=t, retries=i)
            for i, (t, a) in enumerate(zip(texts, args, strict=True))
        ]

    ours = made("json-")
    with django_assert_num_queries(1):
        bulk_insert(ParkedTask, ours)
    theirs = ParkedTask.objects.bulk_create(made("orm-"))
    assert [p.pk for p in ours] == sorted(p.pk for p in ours)
    assert all(not p._state.adding for p in ours)

    def stored(tasks: list[ParkedTask]) -> list[tuple]:
        rows = ParkedTask.objects.in_bulk([p.pk for p in tasks])
        return [
            (
                rows[p.pk].task_name.split("-")[1],
                rows[p.pk].args,
                rows[p.pk].kwargs,
                rows[p.pk].error,
                rows[p.pk].retries,
            )
            for p in tasks
        ]

    assert stored(ours) == stored(theirs)
    assert all(ParkedTask.objects.get(pk=p.pk).parked_at == p.parked_at for p in ours)


@pytest.mark.django_db
def test_bulk_insert_of_nothing_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk_insert(ParkedTask, [])


@pytest.mark.django_db
def test_bulk_insert_keeps_primary_keys_given_and_stores_bytes_as_bulk_create(django_assert_num_queries):
    from ledger.models import Leaf

    def leaves(first: int) -> list[Leaf]:
        return [
            Leaf(
                id=first + i,
                kind="probe",
                subject=f"probe:{i}",
                payload_json='{"a": "b \\\\ c"}',
                payload_hash="0x" + "ab" * 32,
                leaf_hash=bytes([i, 0, 255]) + b"\x00" * 29,
            )
            for i in range(3)
        ]

    ours = leaves(900_001)
    with django_assert_num_queries(1):
        assert bulk_insert(Leaf, ours) == ours
    theirs = Leaf.objects.bulk_create(leaves(900_101))
    got = {leaf.pk: leaf for leaf in Leaf.objects.filter(pk__in=[x.pk for x in ours + theirs])}
    assert [x.pk for x in ours] == [900_001, 900_002, 900_003]

    def stored(rows: list[Leaf]) -> list[tuple]:
        return [
            (got[x.pk].subject, got[x.pk].payload_json, got[x.pk].payload_hash, bytes(got[x.pk].leaf_hash))
            for x in rows
        ]

    assert stored(ours) == stored(theirs) and bytes(got[900_002].leaf_hash)[:3] == b"\x01\x00\xff"


@pytest.mark.django_db
def test_update_by_pk_carries_text_dates_and_booleans_of_each_row_exactly(django_assert_num_queries):
    import datetime

    a, b = (ParkedTask.objects.create(task_name=name, task_id=name, error="") for name in ("a", "b"))
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=datetime.UTC)
    rows = {
        a.pk: {"error": 'a "quoted" \\ back\\slash\nline ✓', "parked_at": when, "resolved": True, "args": []},
        b.pk: {"error": "", "parked_at": when + datetime.timedelta(days=1), "resolved": False, "args": {"k": [1]}},
    }
    with django_assert_num_queries(1):
        assert update_by_pk(ParkedTask, rows, retries=7) == 2
    got = {p.pk: (p.error, p.parked_at, p.resolved, p.args, p.retries) for p in ParkedTask.objects.all()}
    assert got == {
        a.pk: ('a "quoted" \\ back\\slash\nline ✓', when, True, [], 7),
        b.pk: ("", when + datetime.timedelta(days=1), False, {"k": [1]}, 7),
    }
