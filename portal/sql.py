"""One UPDATE for many rows that each take their own values (CASE on the primary key), and
primary keys reserved ahead of an INSERT.

Django's bulk_update builds the same statement but resolves an expression per value, which
costs more than the round trips it saves for a few hundred rows; here each value is prepared by
its field (JSON, dates, decimals) and bound as a parameter. Portable SQL (PostgreSQL, SQLite)."""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def _concrete(meta: Any, name: str) -> models.Field:
    field = meta.get_field(name)
    if not isinstance(field, models.Field):  # a reverse relation or a generic key has no column
        raise TypeError(f"{meta.label}.{name} is not a concrete column")
    return field


def update_by_pk(
    model: type[models.Model], rows: dict[Any, dict[str, Any]], *, where: dict[str, Any] | None = None, **constants: Any
) -> int:
    """UPDATE model SET <field> = CASE pk WHEN … END (per-row values from `rows`: pk -> {field:
    value}) and <field> = value for `constants`, WHERE pk IN rows [AND field = value for `where`].
    Every row must name the same fields. Returns the number of rows updated."""
    if not rows:
        return 0
    meta = model._meta
    qn = connection.ops.quote_name
    pk_col = qn(meta.pk.column)
    pks = list(rows)
    fields = list(next(iter(rows.values())))
    sets, params = [], []
    for name in fields:
        field = _concrete(meta, name)
        branches = []
        for pk in pks:
            branches.append("WHEN %s THEN %s")
            params += [pk, field.get_db_prep_save(rows[pk][name], connection)]
        sets.append(f"{qn(field.column)} = CASE {pk_col} {' '.join(branches)} END")
    for name, value in constants.items():
        field = _concrete(meta, name)
        sets.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    conditions = [f"{pk_col} IN ({', '.join(['%s'] * len(pks))})"]
    params += pks
    for name, value in (where or {}).items():
        field = _concrete(meta, name)
        conditions.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_value(value, connection))
    # Only quoted identifiers from the model's own metadata are spliced in; every value is a parameter.
    sql = f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """n fresh primary keys of `model`'s table, ascending, in one query: for rows whose own id
    goes into what is written with them (a seed, an anchored record), so they are inserted once,
    complete, instead of inserted and then updated."""
    if n <= 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, n]
            )
            return sorted(int(row[0]) for row in cursor.fetchall())
        # SQLite (the embedded default) serialises writers, so the highest id handed out so far
        # (AUTOINCREMENT's counter, or the table's maximum) + 1 cannot race.
        qn = connection.ops.quote_name
        # Only quoted identifiers from the model's own metadata are spliced in.
        sql = f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), COALESCE((SELECT MAX({qn(column)}) FROM {qn(table)}), 0))"  # noqa: S608
        cursor.execute(sql, [table])
        top = int(cursor.fetchone()[0])
        return list(range(top + 1, top + n + 1))
