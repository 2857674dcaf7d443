"""Contribution now belongs to the contributions app (contributions 0001). State only: the
foreign keys keep pointing at the same table, dats_contribution."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dats", "0002_dat_tokens"),
        ("contributions", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="dat",
                    name="contribution",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="dat",
                        to="contributions.contribution",
                    ),
                ),
                migrations.AlterField(
                    model_name="declaredlineage",
                    name="contribution",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="declared_lineage",
                        to="contributions.contribution",
                    ),
                ),
                migrations.DeleteModel(name="Contribution"),
            ],
            database_operations=[],
        ),
    ]
