"""The embedded default's demo data: every app's demo loads, and loading twice changes nothing."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command


def _counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "sessions"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_data_loads_every_app_and_a_second_run_changes_nothing():
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    first = _counts()
    for label in (
        "idaos.IDAO",
        "quorums.Quorum",
        "quorums.Validator",
        "contributions.Contribution",
        "dats.DAT",
        "idaos.Proposal",
    ):
        assert first[label] > 0, label
    call_command("demo_data", stdout=io.StringIO())
    second = _counts()
    changed = {k: (first[k], second[k]) for k in first if first[k] != second[k] and not k.startswith("django_celery")}
    assert changed == {}
    assert "Demo data ready." in out.getvalue()
