"""PostgreSQL refuses UPDATE and DELETE of postings, transactions and sealed blocks or leaves.

The only updates allowed: sealing sets a queued leaf's block once, and public anchoring records
a block's EVM transaction once. SQLite (the embedded run) has no such trigger; verify_ledger
still detects any tampering there."""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % of a row in % is refused; the ledger is append-only (post a reversing transaction)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION ledger_leaf_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.block_id IS NULL AND NEW.block_id IS NOT NULL
       AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.subject = OLD.subject
       AND NEW.payload_json = OLD.payload_json AND NEW.payload_hash = OLD.payload_hash
       AND NEW.leaf_hash = OLD.leaf_hash AND NEW.created_at = OLD.created_at
       AND NEW.transaction_id IS NOT DISTINCT FROM OLD.transaction_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger: % of leaf % is refused; anchored records are append-only', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION ledger_block_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.evm_tx_hash = '' AND NEW.height = OLD.height
       AND NEW.prev_hash = OLD.prev_hash AND NEW.merkle_root = OLD.merkle_root
       AND NEW.leaf_count = OLD.leaf_count AND NEW.timestamp = OLD.timestamp
       AND NEW.block_hash = OLD.block_hash THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger: % of sealed block % is refused; blocks are append-only', TG_OP, OLD.height
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_leaf_append_only BEFORE UPDATE OR DELETE ON ledger_leaf
    FOR EACH ROW EXECUTE FUNCTION ledger_leaf_guard();

CREATE TRIGGER ledger_block_append_only BEFORE UPDATE OR DELETE ON ledger_block
    FOR EACH ROW EXECUTE FUNCTION ledger_block_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;

DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;

DROP TRIGGER IF EXISTS ledger_leaf_append_only ON ledger_leaf;

DROP TRIGGER IF EXISTS ledger_block_append_only ON ledger_block;

DROP FUNCTION IF EXISTS ledger_refuse_change();

DROP FUNCTION IF EXISTS ledger_leaf_guard();

DROP FUNCTION IF EXISTS ledger_block_guard();
"""


def _run(schema_editor, script):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in script.split("\n\n"):
        if statement.strip():
            schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    _run(schema_editor, FUNCTIONS)


def backwards(apps, schema_editor):
    _run(schema_editor, REVERSE)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
