"""Loads idaos/sql/idaos_cast_ballot.sql for the migrations that (re)define the function. Django's
migration loader skips modules whose name starts with an underscore, so this is no migration."""

from __future__ import annotations

from pathlib import Path

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "idaos_cast_ballot.sql"
DROP = (
    "DROP FUNCTION IF EXISTS idaos_cast_ballot(bigint, text, text, text, text, bigint, jsonb, text, text, timestamptz,"
    " text, bigint, bigint)"
)
# The signature before ballots recorded how they were verified (migration 0005 drops it).
DROP_UNVERIFIED = (
    "DROP FUNCTION IF EXISTS idaos_cast_ballot(bigint, text, text, text, text, bigint, jsonb, text, text, timestamptz)"
)


def create(apps, schema_editor) -> None:
    """Create or replace idaos_cast_ballot() on PostgreSQL; SQLite records ballots in Python."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL_FILE.read_text())


def replace_unverified(apps, schema_editor) -> None:
    """Drop the ten-argument function and create the file's (which records the verification)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_UNVERIFIED)
        schema_editor.execute(SQL_FILE.read_text())


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
