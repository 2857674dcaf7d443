"""floor(a·b·c / (d·e)) over NUMERIC, used by the epoch-close SQL (rewards/sql.py).
SQLite gets the same function from Python when a connection opens (rewards/apps.py)."""

from django.db import migrations

from rewards.sql import PG_MULDIV


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_MULDIV)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS rw_muldiv(numeric, numeric, numeric, numeric, numeric)")


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
        ("dats", "0002_dat_tokens"),
        ("quorums", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
