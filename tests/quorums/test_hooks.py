"""The quorums hooks: one list per event, each taking a batch, filled from the downstream apps'
AppConfig.ready() and nowhere else."""

from __future__ import annotations

from django.apps import apps

from contributions import services as contribution_services
from contributions import subject
from dats.services import minting
from quorums import hooks


def test_downstream_apps_register_each_batch_hook_exactly_once_even_if_ready_runs_again():
    for label in ("contributions", "dats"):
        apps.get_app_config(label).ready()
    assert hooks._ON_VERDICTS.count(contribution_services.on_verdicts) == 1
    assert hooks._ON_ROUNDS_CLOSED.count(contribution_services.on_rounds_closed) == 1
    assert hooks._ON_ROUNDS_ACCEPTED.count(minting.on_rounds_accepted) == 1
    assert hooks._ON_SWEEP.count(contribution_services.contributions_route_waiting) == 1
    kind = hooks.subject_kind(subject.SUBJECT_KIND)
    assert (kind.describe, kind.open) == (subject.describe, subject.open)


def test_hooks_receive_the_whole_batch_once_and_accepted_hooks_only_the_accepted_rounds():
    class FakeRound:
        def __init__(self, pk: int, outcome: str) -> None:
            self.pk, self.outcome, self.subject_kind = pk, outcome, "probe"

    seen: list[tuple[str, list[int]]] = []

    def closed(rounds):
        seen.append(("closed", [r.pk for r in rounds]))

    def accepted(rounds):
        seen.append(("accepted", [r.pk for r in rounds]))

    hooks.on_rounds_closed(closed)
    hooks.on_rounds_accepted(accepted)
    try:
        hooks.run_closed([FakeRound(1, "accepted"), FakeRound(2, "rejected"), FakeRound(3, "accepted")])
    finally:
        hooks._ON_ROUNDS_CLOSED.remove(closed)
        hooks._ON_ROUNDS_ACCEPTED.remove(accepted)
    assert seen == [("closed", [1, 2, 3]), ("accepted", [1, 3])]
