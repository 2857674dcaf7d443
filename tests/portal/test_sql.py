"""portal.sql.update_by_pk: one UPDATE giving many rows their own values."""

from __future__ import annotations

import pytest

from portal.models import ParkedTask
from portal.sql import update_by_pk


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
