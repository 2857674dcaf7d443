"""Verify a validation round offline: `python manage.py verify_round round-<id>.json`.

Needs no database: it re-derives the seed from its anchored public inputs, re-draws the committee
from the seed and the candidates with the portal's own draw (quorums.consensus), re-verifies every
verdict signature, recomputes the tally and checks the Merkle proofs (quorums.bundles.verify).
Exit status 0 when the round verifies (PASS), 1 when it does not (the first mismatch is named)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from portal.management.files import read_text_argument
from quorums.bundles import InvalidRoundBundle, verify


class Command(BaseCommand):
    help = "Verify a validation round bundle (JSON, from /rounds/<id>/bundle.json) offline, without the database."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", help="the bundle file, or - for standard input")

    def handle(self, *args, path: str, **options):
        text = read_text_argument(path)
        try:
            bundle = json.loads(text)
        except ValueError as exc:
            self.stderr.write(f"FAIL: not JSON ({exc})")
            raise SystemExit(1) from None
        try:
            report = verify(bundle)
        except InvalidRoundBundle as exc:
            self.stderr.write(f"FAIL: {exc}")
            raise SystemExit(1) from None
        self.stdout.write(f"PASS: round {report.round_id}, outcome {report.outcome}")
        for line in report.checks:
            self.stdout.write(f"  checked: {line}")
        self.stdout.write(
            f"  compare the latest block hash {report.head['blockHash']} (height {report.head['height']}) with a "
            "source you trust (the portal's /ledger/headers.json or its public EVM anchor)."
        )
