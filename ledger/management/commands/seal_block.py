"""`manage.py seal_block`: seal the queued leaves now (the Celery beat does it every few seconds)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ledger.services import block_seal


class Command(BaseCommand):
    help = "Seal the queued leaves into the next block."

    def handle(self, *args: object, **options: object) -> None:
        block = block_seal()
        self.stdout.write(f"sealed block {block.height} root {block.merkle_root}" if block else "nothing to seal")
