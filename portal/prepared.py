"""A cursor whose statements PostgreSQL parses and plans once per connection (a named prepared
statement, bound server-side), for the few statements a hot path runs on every request.

Django binds parameters client-side (psycopg's ClientCursor): each call sends the statement as
text with its values quoted in, and PostgreSQL parses, analyses and plans it anew. For the vote
path's one statement, `SELECT … FROM idaos_cast_ballot(13 arguments)`, that is about a third of
the statement's server time (pgbench, 8 clients on 2 cores: 5,700 calls/s as text, 8,000/s
prepared). A prepared statement sends only the values and runs the plan PostgreSQL kept.

`prepared_cursor()` is Django's `connection.cursor()` (health check, connection, error
wrapping, query logging and execute wrappers all as usual) around a psycopg cursor that binds
server-side and prepares every statement it executes: psycopg keeps the name per connection,
prepares on first use, and drops its names after a rollback (the server may have lost them).

A named prepared statement lives in one server session, so it is on only where each Django
connection is its own session: settings.PORTAL_PREPARED_STATEMENTS, off by default behind
PgBouncer in transaction mode (DISABLE_SERVER_SIDE_CURSORS; PgBouncer 1.21+ with
max_prepared_statements set keeps them working and may turn it on). Off, or on SQLite, it is
the ordinary cursor. Bound server-side, a Python int travels as the smallest integer type that
holds it: pass bigint parameters as `Int8(value)` so the statement keeps one parameter type."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import register_tzloader  # type: ignore[import-untyped]
from django.db.backends.utils import CursorWrapper
from psycopg import Cursor
from psycopg.postgres import types
from psycopg.pq import Format
from psycopg.types.numeric import Int8

__all__ = ["Int8", "prepared_cursor"]

# Every other statement on the connection stays unprepared: the connection's threshold (None, as
# Django sets it) is raised only while a prepared statement runs (psycopg ignores prepare=True
# while it is None); no count reaches it, so nothing is prepared automatically either.
_NEVER_BY_COUNT = sys.maxsize
_TIMESTAMPTZ_OID = types["timestamptz"].oid


class _PreparingCursor(Cursor):
    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        conn = self.connection
        threshold = conn.prepare_threshold
        if threshold is None:
            conn.prepare_threshold = _NEVER_BY_COUNT
        try:
            return super().execute(query, params, prepare=True, binary=binary)
        finally:
            conn.prepare_threshold = threshold


def prepared_cursor(db: BaseDatabaseWrapper | None = None) -> CursorWrapper:
    """`db.cursor()` (the default database's unless given), preparing its statements where
    settings allow (see the module)."""
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.<name>` looks it up again
    if db.vendor != "postgresql" or not settings.PORTAL_PREPARED_STATEMENTS:
        return db.cursor()
    # BaseDatabaseWrapper._cursor, with our cursor in place of create_cursor()'s.
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = _PreparingCursor(db.connection)
    # As create_cursor() does: timestamps in the connection's time zone if it was made for another.
    if getattr(raw.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT), "timezone", None) != db.timezone:
        register_tzloader(db.timezone, raw)
    wrapped: Any = raw  # Django's wrappers take any DB-API cursor (django-stubs say CursorWrapper)
    return db.make_debug_cursor(wrapped) if db.queries_logged else db.make_cursor(wrapped)
