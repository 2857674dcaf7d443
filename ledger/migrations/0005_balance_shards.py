"""Hot system accounts keep their balance in several rows (shards) so unrelated writers do not
queue on one row lock; every existing balance becomes shard 0."""

from django.db import migrations, models

HOT = ("system:issuer", "system:reward_pool")  # ledger.owners.SHARDED when this was written
SHARDS = 16  # ledger.services.SHARDS when this was written


def add_shards(apps, schema_editor):
    """Existing hot balances get their empty shards 1..15 (new ones get all 16 on first use)."""
    Balance = apps.get_model("ledger", "Balance")
    rows = Balance.objects.filter(account__owner__in=HOT, shard=0)
    Balance.objects.bulk_create(
        [
            Balance(account_id=b.account_id, asset=b.asset, shard=shard, amount=0, allow_negative=b.allow_negative)
            for b in rows
            for shard in range(1, SHARDS)
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_chain_outbox")]

    operations = [
        migrations.AddField(model_name="balance", name="shard", field=models.SmallIntegerField(default=0)),
        migrations.RemoveConstraint(model_name="balance", name="ledger_balance_account_asset"),
        migrations.AddConstraint(
            model_name="balance",
            constraint=models.UniqueConstraint(
                fields=("account", "asset", "shard"), name="ledger_balance_account_asset_shard"
            ),
        ),
        migrations.RunPython(add_shards, migrations.RunPython.noop),
    ]
