"""`manage.py recount proposal-<id>.json`: recount a proposal from its export alone, with no
database (`idaos.recount`): re-verify every signature, check each weight against the voting-power
snapshot, rebuild the tally under the rule and the ballots' Merkle root, and check the ledger
proof of the anchored result. Prints PASS, or FAIL naming the first mismatch (exit status 1);
exit status 2 when only contract-wallet ballots are left unverified for want of `--rpc URL`.

`manage.py recount <id>` builds the same export from the portal's database and runs the same
checks (for operators)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from idaos.recount import Mismatch, NeedsRpc, Report, recount
from portal.management.files import read_text_argument


class Command(BaseCommand):
    help = "Recount a proposal from its export (proposal-<id>.json, no database needed) or, given an id, from the database."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="the export file (or - for standard input), or a proposal id")
        parser.add_argument(
            "--rpc", metavar="URL", help="a JSON-RPC URL of the voting chain, for contract-wallet ballots"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def _export(self, source: str) -> dict:
        if source.isdigit() and not Path(source).exists():
            from idaos import selectors
            from portal.errors import DomainError

            try:
                return selectors.proposal_export(selectors.proposal_get(int(source)))
            except DomainError as exc:
                raise CommandError(exc.detail) from None
        text = read_text_argument(source)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CommandError(f"FAIL: {source} is not JSON ({exc})") from None

    def handle(self, *args, source: str, rpc: str | None = None, **options) -> None:
        export = self._export(source)
        try:
            report = recount(export, rpc=rpc)
        except NeedsRpc as exc:
            raise CommandError(f"INCOMPLETE: {exc}", returncode=2) from None
        except Mismatch as exc:
            raise CommandError(f"FAIL: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=1))
            return
        self._print(report)

    def _print(self, r: Report) -> None:
        t = r.tally
        if "method" in t:  # a signal with options
            won = "no winner" if t["winner"] is None else f"winner {t['options'][t['winner']]!r}"
            counted = f"{t['method']} over {len(t['options'])} options, {len(t['rounds']) or 1} round(s): {won}"
        else:
            counted = f"for {t['for']} · against {t['against']} · abstain {t['abstain']}"
        self.stdout.write(
            f"PASS: proposal {r.proposal}: {r.ballots} ballots ({r.counted} counted, {r.superseded} superseded), "
            f"{r.valid} valid signatures.\n"
            f"{counted} · eligible {t['eligible']} → {t['outcome']}\nballots root {r.ballots_root}"
        )
        for line in r.checks:
            self.stdout.write(f"  checked: {line}")
        if r.anchored and r.head:
            self.stdout.write(
                f"  compare the latest block hash {r.head['blockHash']} (height {r.head['height']}) with a source you "
                "trust (the portal's /ledger/headers.json or its public EVM anchor)."
            )
        else:
            self.stdout.write(
                "  UNANCHORED: no ledger proof checked (the vote is still open, or its result awaits a block)."
            )
