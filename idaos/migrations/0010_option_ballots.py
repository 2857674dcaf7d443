"""Signals with several options (docs/governance.md "Signals with several options"): a ballot's
choice may be `options` (an OptionBallot, its options in the signed message), and
idaos_cast_ballot() refuses a ballot whose type is not the proposal's (`wrong_ballot_type`).
The function keeps its signature: CREATE OR REPLACE from idaos/sql/idaos_cast_ballot.sql."""

from django.db import migrations, models

from idaos.migrations._cast_ballot import create


class Migration(migrations.Migration):
    dependencies = [
        ("idaos", "0009_reward_weighting"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ballot",
            name="choice",
            field=models.CharField(
                choices=[("for", "For"), ("against", "Against"), ("abstain", "Abstain"), ("options", "Options")],
                max_length=10,
            ),
        ),
        migrations.RunPython(create, migrations.RunPython.noop),
    ]
