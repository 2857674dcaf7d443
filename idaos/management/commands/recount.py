"""`manage.py recount <proposal>`: re-verify every stored ballot's signature and recompute the
tally and the ballots' Merkle root from scratch, then compare with what was recorded."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from idaos.models import Proposal
from idaos.selectors import proposal_recount


class Command(BaseCommand):
    help = "Re-verify every signature of a proposal's ballots and recompute its tally."

    def add_arguments(self, parser) -> None:
        parser.add_argument("proposal", type=int, help="the proposal id")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, proposal: int, **options) -> None:
        p = Proposal.objects.select_related("idao").filter(pk=proposal).first()
        if p is None:
            raise CommandError(f"There is no proposal {proposal}.")
        report = proposal_recount(p)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=1))
        else:
            t = report["tally"]
            self.stdout.write(
                f"Proposal {p.pk} ({p.state}): {report['ballots']} ballots, {report['valid']} valid signatures, "
                f"{report['counted']} counted.\n"
                f"for {t['for']} · against {t['against']} · abstain {t['abstain']} · eligible {t['eligible']} "
                f"→ {t['outcome']}\nballots root {report['ballots_root']}"
            )
            for problem in report["problems"]:
                self.stdout.write(self.style.ERROR(problem))
        if report["problems"]:
            raise CommandError(f"Recount of proposal {p.pk} found {len(report['problems'])} problem(s).")
        self.stdout.write(self.style.SUCCESS("Recount matches."))
