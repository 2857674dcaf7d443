"""No query looks leaves up by (kind, subject): they are found by id, which the records anchored in
them keep, or by transaction. The index cost an insert per anchored leaf."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_fewer_write_indexes")]

    operations = [migrations.RemoveIndex(model_name="leaf", name="ledger_leaf_subject")]
