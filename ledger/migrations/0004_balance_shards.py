"""Hot system accounts keep their balance in several rows (shards) so unrelated writers do not
queue on one row lock; every existing balance becomes shard 0."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_leaf_ranges")]

    operations = [
        migrations.AddField(model_name="balance", name="shard", field=models.SmallIntegerField(default=0)),
        migrations.RemoveConstraint(model_name="balance", name="ledger_balance_account_asset"),
        migrations.AddConstraint(
            model_name="balance",
            constraint=models.UniqueConstraint(
                fields=("account", "asset", "shard"), name="ledger_balance_account_asset_shard"
            ),
        ),
    ]
