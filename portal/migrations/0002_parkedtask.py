"""Task parking moved down from quorums into portal: the model changes app, the table stays
quorums_parkedtask (state only; quorums 0002 drops the model from its own state)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ParkedTask",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("task_name", models.CharField(max_length=200)),
                        ("task_id", models.CharField(max_length=200, unique=True)),
                        ("args", models.JSONField(default=list)),
                        ("kwargs", models.JSONField(default=dict)),
                        ("error", models.TextField()),
                        ("retries", models.PositiveIntegerField(default=0)),
                        ("parked_at", models.DateTimeField(auto_now_add=True)),
                        ("resolved", models.BooleanField(default=False)),
                    ],
                    options={"ordering": ["-id"], "db_table": "quorums_parkedtask"},
                ),
            ],
            database_operations=[],
        ),
    ]
