"""Indexes the ledger's writes paid for and no read used: a posting's account (the history
index leads with it), a transaction's creation time, and the LIKE index Django adds beside a
unique varchar on PostgreSQL (idempotency keys are looked up by equality only).

The indexes are dropped by name, not by AlterField: on SQLite AlterField rebuilds the table,
which the reference triggers of migration 0006 refuse."""

from django.db import migrations, models

INDEXES = {  # name: what recreates it
    "ledger_posting_account_id_964f801d": "ledger_posting (account_id)",
    "ledger_transaction_created_at_0d0fbc3f": "ledger_transaction (created_at)",
}
LIKE_INDEX = (
    "ledger_transaction_idempotency_key_7c87dd47_like",
    "ledger_transaction (idempotency_key varchar_pattern_ops)",
)


def drop(apps, schema_editor) -> None:
    names = [*INDEXES, LIKE_INDEX[0]] if schema_editor.connection.vendor == "postgresql" else list(INDEXES)
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore(apps, schema_editor) -> None:
    indexes = dict(INDEXES)
    if schema_editor.connection.vendor == "postgresql":
        indexes[LIKE_INDEX[0]] = LIKE_INDEX[1]
    for name, target in indexes.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_statement_level_references")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="posting",
                    name="account",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="postings",
                        to="ledger.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="created_at",
                    field=models.DateTimeField(auto_now_add=True),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
