"""`manage.py verify_ledger`: exit 0 if the ledger adds up, else exit 1 naming the first problem."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from ledger.verify import ledger_verify


class Command(BaseCommand):
    help = "Recompute every block's root and hash chain, every transaction and every balance."

    def handle(self, *args: object, **options: object) -> None:
        started = time.perf_counter()
        report = ledger_verify()
        elapsed = time.perf_counter() - started
        if not report.ok:
            raise CommandError(f"Ledger verification failed: {report.problem}")
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Ledger verified in {elapsed:.2f}s: {counts}."))
