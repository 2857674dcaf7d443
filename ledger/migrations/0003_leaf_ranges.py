"""Blocks hold contiguous leaf-id ranges instead of every leaf pointing at its block: sealing then
writes one row instead of updating 100k, and leaves become fully immutable."""

from django.db import migrations, models

LEAF_TRIGGER = r"""
DROP TRIGGER IF EXISTS ledger_leaf_append_only ON ledger_leaf;

CREATE TRIGGER ledger_leaf_append_only BEFORE UPDATE OR DELETE ON ledger_leaf
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

DROP FUNCTION IF EXISTS ledger_leaf_guard();
"""


def ranges_from_links(apps, schema_editor):
    Block = apps.get_model("ledger", "Block")
    Leaf = apps.get_model("ledger", "Leaf")
    ChainHead = apps.get_model("ledger", "ChainHead")
    last = 0
    for block in Block.objects.order_by("height"):
        ids = Leaf.objects.filter(block_id=block.height).aggregate(lo=models.Min("id"), hi=models.Max("id"))
        Block.objects.filter(height=block.height).update(first_leaf_id=ids["lo"] or last + 1, last_leaf_id=ids["hi"] or last)
        last = ids["hi"] or last
    ChainHead.objects.update(last_leaf_id=last)


def leaf_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in LEAF_TRIGGER.split("\n\n"):
            if statement.strip():
                schema_editor.execute(statement, params=None)


def disable_block_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_block DISABLE TRIGGER ledger_block_append_only", params=None)


def enable_block_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_block ENABLE TRIGGER ledger_block_append_only", params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only_triggers")]

    operations = [
        migrations.AddField("block", "first_leaf_id", models.BigIntegerField(default=0), preserve_default=False),
        migrations.AddField("block", "last_leaf_id", models.BigIntegerField(db_index=True, default=0), preserve_default=False),
        migrations.AddField("chainhead", "last_leaf_id", models.BigIntegerField(default=0)),
        migrations.RunPython(disable_block_trigger, migrations.RunPython.noop),
        migrations.RunPython(ranges_from_links, migrations.RunPython.noop),
        migrations.RunPython(enable_block_trigger, migrations.RunPython.noop),
        migrations.RunPython(leaf_trigger, migrations.RunPython.noop),
        migrations.RemoveIndex("leaf", "ledger_leaf_unsealed"),
        migrations.RemoveField("leaf", "block"),
    ]
