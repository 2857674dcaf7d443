"""ParkedTask now belongs to portal (portal 0002); its table quorums_parkedtask stays as it is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("quorums", "0001_initial"),
        ("portal", "0002_parkedtask"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ParkedTask")],
            database_operations=[],
        ),
    ]
