"""Load demo data for the embedded default. Idempotent: running it twice changes nothing.

Each domain app may ship `<app>/demo.py` with `load(stdout) -> None`; they run in dependency
order, so a downstream app's demo builds on upstream data."""

from __future__ import annotations

import importlib

from django.core.management.base import BaseCommand

DEMO_APPS = ("portal", "ledger", "idaos", "quorums", "contributions", "dats", "rewards")


class Command(BaseCommand):
    help = "Load idempotent demo data (people, iDAOs, quorums, contributions, usage)."

    def handle(self, *args, **options) -> None:
        for name in DEMO_APPS:
            try:
                module = importlib.import_module(f"{name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{name}.demo":
                    raise
                continue
            module.load(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
