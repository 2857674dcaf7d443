"""Verdicts record how their signature was verified (issue 13): `verified_by` (eoa, erc1271 or
erc6492), the chain and the block a contract check ran at; a contract wallet's signature can be
longer than 65 bytes, so the signature becomes text."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("quorums", "0003_round_params"),
    ]

    operations = [
        migrations.AlterField(model_name="verdict", name="signature", field=models.TextField()),
        migrations.AddField(
            model_name="verdict", name="verified_by", field=models.CharField(default="eoa", max_length=16)
        ),
        migrations.AddField(
            model_name="verdict", name="verified_chain_id", field=models.BigIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="verdict", name="verified_block", field=models.BigIntegerField(blank=True, null=True)
        ),
    ]
