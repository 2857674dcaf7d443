"""Contribution moved from dats into contributions, and ParkedTask from quorums into portal, by
state-only migrations. A database built at the old migration head, with rows written through the
historical models, migrates to the new head and keeps every row, every foreign key and the
table names, and the apps work on the migrated rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

# The heads before the split (the last migration each moved model's old app had).
OLD_HEAD = {"portal": "0001_initial", "quorums": "0001_initial", "dats": "0002_dat_tokens", "contributions": None}
SHA = "0x" + "ab" * 32
OTHER_SHA = "0x" + "cd" * 32


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


def _targets(executor: MigrationExecutor, heads: dict[str, str | None]) -> list[tuple[str, str | None]]:
    leaves = dict(executor.loader.graph.leaf_nodes())
    return [(app, heads.get(app, name)) for app, name in leaves.items()]


def _populate_at_old_head(apps) -> dict[str, int]:
    """Representative rows as the old code wrote them: an accepted contribution with its DAT,
    declared lineage and an access-grant-free policy; an upload still waiting; a parked task."""
    User = apps.get_model("portal", "User")
    IDAO = apps.get_model("idaos", "IDAO")
    Quorum = apps.get_model("quorums", "Quorum")
    Round = apps.get_model("quorums", "Round")
    Contribution = apps.get_model("dats", "Contribution")
    DAT = apps.get_model("dats", "DAT")
    DeclaredLineage = apps.get_model("dats", "DeclaredLineage")
    ParkedTask = apps.get_model("quorums", "ParkedTask")

    now = timezone.now()
    bob = User.objects.create(address="0x" + "22" * 20, display_name="Bob")
    idao = IDAO.objects.create(slug="old-head", name="Old head", domain="health", created_by=bob)
    quorum = Quorum.objects.create(name="old quorum")
    accepted = Contribution.objects.create(
        public_id="old-accepted",
        idao=idao,
        owner=bob,
        kind="dataset",
        title="Accepted before the split",
        licence="CC-BY-4.0",
        usage_policy={"allowed_uses": ["training"]},
        storage_name="contributions/old/accepted",
        size=3,
        sha256=SHA,
        keccak256=SHA,
        state="accepted",
    )
    waiting = Contribution.objects.create(
        public_id="old-waiting",
        idao=idao,
        owner=bob,
        kind="dataset",
        title="Waiting before the split",
        licence="CC-BY-4.0",
        storage_name="contributions/old/waiting",
        size=5,
        sha256=OTHER_SHA,
        keccak256=OTHER_SHA,
        duplicate_of=accepted,
    )
    round_ = Round.objects.create(
        quorum=quorum,
        idao=idao,
        subject_kind="contribution",
        subject_ref=str(accepted.pk),
        content_hash=SHA,
        seed=SHA,
        state="closed",
        outcome="accepted",
        opened_at=now - timedelta(hours=1),
        deadline=now,
        closed_at=now,
    )
    Contribution.objects.filter(pk=accepted.pk).update(round=round_)
    dat = DAT.objects.create(
        klass="dataset",
        title=accepted.title,
        owner=bob,
        idao=idao,
        contribution=accepted,
        round=round_,
        sha256=SHA,
        keccak256=SHA,
        size=3,
        allowed_uses=["training"],
        anchor_leaf_id=1,
    )
    DeclaredLineage.objects.create(contribution=waiting, parent_ids=[dat.pk])
    parked = ParkedTask.objects.create(task_name="dats.tasks.contribution_route_task", task_id="t-1", error="boom")
    return {"accepted": accepted.pk, "waiting": waiting.pk, "dat": dat.pk, "round": round_.pk, "parked": parked.pk}


def test_a_database_at_the_old_head_migrates_to_the_split_apps_with_rows_and_links_intact():
    executor = _executor()
    new_head = _targets(executor, {})
    executor.migrate(_targets(executor, OLD_HEAD))
    executor = _executor()
    old_nodes = [node for node in _targets(executor, OLD_HEAD) if node[1] is not None]
    old_apps = executor.loader.project_state(old_nodes).apps
    assert not any(m._meta.app_label == "contributions" for m in old_apps.get_models())
    ids = _populate_at_old_head(old_apps)

    executor.migrate(new_head)

    from contributions.models import Contribution
    from contributions.services import contribution_route
    from dats.models import DAT, DeclaredLineage
    from portal.models import ParkedTask

    assert Contribution._meta.db_table == "dats_contribution"
    assert ParkedTask._meta.db_table == "quorums_parkedtask"
    accepted = Contribution.objects.get(pk=ids["accepted"])
    assert (accepted.public_id, accepted.state, accepted.round_id) == ("old-accepted", "accepted", ids["round"])
    dat = DAT.objects.select_related("contribution").get(pk=ids["dat"])
    assert dat.contribution == accepted and accepted.dat == dat  # both directions of the one-to-one
    waiting = Contribution.objects.get(pk=ids["waiting"])
    assert waiting.duplicate_of_id == accepted.pk
    assert DeclaredLineage.objects.get(contribution=waiting).parent_ids == [dat.pk]
    assert waiting.declared_lineage.parent_ids == [dat.pk]
    assert ParkedTask.objects.get(pk=ids["parked"]).task_name == "dats.tasks.contribution_route_task"
    # The new code works on the migrated rows: routing the waiting upload (no quorum is trusted,
    # so it waits visibly) and a new contribution row takes the next id of the same table.
    routed = contribution_route(contribution_id=waiting.pk)
    assert routed.state == "uploaded" and routed.waiting_reason.startswith("Waiting")
    assert Contribution.objects.filter(idao__slug="old-head").count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM dats_contribution")
        assert cursor.fetchone()[0] == 2
