"""idaos_cast_ballot(): records one signed ballot in a single round trip on PostgreSQL. Its one
definition is idaos/sql/idaos_cast_ballot.sql (this migration and 0004 both load it)."""

from django.db import migrations

from idaos.migrations._cast_ballot import create, drop


class Migration(migrations.Migration):
    dependencies = [("idaos", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
