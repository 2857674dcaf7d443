"""Ballots record how their signature was verified (issue 13): `verified_by` (eoa, erc1271,
erc6492 or pending), the chain and the block a contract check ran at. A contract wallet's
signature can be longer than 65 bytes, or empty, so the signature becomes text. The SQL function
gains the three verification arguments: the ten-argument version is dropped."""

from django.db import migrations, models

from idaos.migrations._cast_ballot import replace_unverified


class Migration(migrations.Migration):
    dependencies = [
        ("idaos", "0004_ballot_voter_lock"),
    ]

    operations = [
        migrations.AlterField(model_name="ballot", name="signature", field=models.TextField()),
        migrations.AddField(
            model_name="ballot", name="verified_by", field=models.CharField(default="eoa", max_length=16)
        ),
        migrations.AddField(
            model_name="ballot", name="verified_chain_id", field=models.BigIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="ballot", name="verified_block", field=models.BigIntegerField(blank=True, null=True)
        ),
        migrations.AddIndex(
            model_name="ballot",
            index=models.Index(
                condition=models.Q(("verified_by", "pending")), fields=["proposal"], name="ballot_pending"
            ),
        ),
        migrations.RunPython(replace_unverified, migrations.RunPython.noop),
    ]
