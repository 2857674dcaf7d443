"""Postings' and leaves' references are checked once per statement instead of once per row.

A row-level foreign key runs one lookup per new posting and takes a KEY SHARE lock on the parent
row (a WAL record each): for a batch of 1,000 transfers, 5,000 checks at commit, about a quarter
of the batch's database time. Those locks guard against the parent being deleted or its key
changed, which cannot happen here: transactions are append-only (migration 0002) and accounts are
never deleted (refused below). So one anti-join per statement over the new rows (a transition
table) proves every reference exists. SQLite (the embedded run) gets the same checks as row
triggers."""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL = r"""
CREATE OR REPLACE FUNCTION ledger_posting_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM ledger_transaction t WHERE t.id = n.transaction_id))
       OR EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM ledger_account a WHERE a.id = n.account_id)) THEN
        RAISE EXCEPTION 'ledger: a posting names a transaction or an account that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_leaf_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE n.transaction_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM ledger_transaction t WHERE t.id = n.transaction_id)) THEN
        RAISE EXCEPTION 'ledger: a leaf names a transaction that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_posting_references AFTER INSERT ON ledger_posting
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_references();

CREATE TRIGGER ledger_leaf_references AFTER INSERT ON ledger_leaf
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_leaf_references();

CREATE TRIGGER ledger_account_kept BEFORE DELETE ON ledger_account
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

POSTGRESQL_REVERSE = r"""
DROP TRIGGER IF EXISTS ledger_posting_references ON ledger_posting;

DROP TRIGGER IF EXISTS ledger_leaf_references ON ledger_leaf;

DROP TRIGGER IF EXISTS ledger_account_kept ON ledger_account;

DROP FUNCTION IF EXISTS ledger_posting_references();

DROP FUNCTION IF EXISTS ledger_leaf_references();
"""

SQLITE = r"""
CREATE TRIGGER IF NOT EXISTS ledger_posting_references BEFORE INSERT ON ledger_posting
WHEN NOT EXISTS (SELECT 1 FROM ledger_transaction WHERE id = NEW.transaction_id)
  OR NOT EXISTS (SELECT 1 FROM ledger_account WHERE id = NEW.account_id)
BEGIN SELECT RAISE(ABORT, 'ledger: a posting names a transaction or an account that does not exist'); END;

CREATE TRIGGER IF NOT EXISTS ledger_leaf_references BEFORE INSERT ON ledger_leaf
WHEN NEW.transaction_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_transaction WHERE id = NEW.transaction_id)
BEGIN SELECT RAISE(ABORT, 'ledger: a leaf names a transaction that does not exist'); END;

CREATE TRIGGER IF NOT EXISTS ledger_account_kept BEFORE DELETE ON ledger_account
BEGIN SELECT RAISE(ABORT, 'ledger: DELETE of a row in ledger_account is refused; the ledger is append-only'); END;
"""

SQLITE_REVERSE = r"""
DROP TRIGGER IF EXISTS ledger_posting_references;

DROP TRIGGER IF EXISTS ledger_leaf_references;

DROP TRIGGER IF EXISTS ledger_account_kept;
"""


def _run(schema_editor, scripts: dict[str, str]) -> None:
    script = scripts.get(schema_editor.connection.vendor, "")
    for statement in script.split("\n\n"):
        if statement.strip():
            schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE})


def backwards(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0005_balance_shards"),
    ]

    # Backwards, the triggers go before the foreign keys come back.
    operations = [
        migrations.RunPython(migrations.RunPython.noop, backwards),
        migrations.AlterField(
            model_name="leaf",
            name="transaction",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="leaf",
                to="ledger.transaction",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="ledger.account",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="transaction",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="ledger.transaction",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
