"""A faster flush for transactional tests on PostgreSQL.

Django empties every table after each transactional test (TransactionTestCase) with one TRUNCATE
of all of them, which creates new files for every table and index: ~0.35 s here, paid by each of
the ~140 transactional tests. Tables a test leaves behind hold a handful of rows, so DELETE is
~100x cheaper; with triggers off for the transaction (`session_replication_role = replica`, a
superuser's setting, as the test database's owner is) the ledger's append-only triggers and the
foreign keys do not stand in the way, in any order. A table that grew large is still truncated.
Anything else (another role, reset_sequences, SQLite) keeps Django's own flush."""

from __future__ import annotations

from django.db.backends.postgresql.operations import DatabaseOperations

LARGE = 10_000  # rows (PostgreSQL's estimate) from which TRUNCATE is the cheaper way

_django_sql_flush = DatabaseOperations.sql_flush


def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if not tables or reset_sequences:
        return _django_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    with self.connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        if not cursor.fetchone()[0]:
            return _django_sql_flush(self, style, tables, reset_sequences=False, allow_cascade=allow_cascade)
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) AND n_live_tup >= %s",
            [list(tables), LARGE],
        )
        large = {row[0] for row in cursor.fetchall()}
    quote = self.quote_name
    statements = ["SET LOCAL session_replication_role = replica"]
    if large:
        statements.append(f"TRUNCATE {', '.join(quote(t) for t in sorted(large))} CASCADE")
    # One query string: Django runs each returned statement in its own round trip.
    statements.append(";\n".join(f"DELETE FROM {quote(t)}" for t in tables if t not in large))  # noqa: S608 (quoted table names)
    return statements


def install() -> None:
    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
