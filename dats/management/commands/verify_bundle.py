"""Verify a DAT provenance bundle offline: `python manage.py verify_bundle bundle.json`.

Needs no database: it recomputes every hash from the file (see dats.bundles.verify). Exit status
0 when the bundle verifies, 1 when it does not (the first failed check is printed)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dats.bundles import InvalidBundle, verify


class Command(BaseCommand):
    help = "Verify a DAT provenance bundle (JSON) offline, without the database."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", help="the bundle file, or - for standard input")

    def handle(self, *args, path: str, **options):
        try:
            text = self.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        try:
            bundle = json.loads(text)
        except ValueError as exc:
            self.stderr.write(f"INVALID: not JSON ({exc})")
            raise SystemExit(1) from None
        try:
            report = verify(bundle)
        except InvalidBundle as exc:
            self.stderr.write(f"INVALID: {exc}")
            raise SystemExit(1) from None
        self.stdout.write(f"VALID: DAT #{report.token_id}")
        for line in report.checks:
            self.stdout.write(f"  checked: {line}")
        self.stdout.write(
            f"  compare the latest block hash {report.head['blockHash']} (height {report.head['height']}) with a "
            "source you trust (the portal's /ledger/headers.json or its public EVM anchor)."
        )
