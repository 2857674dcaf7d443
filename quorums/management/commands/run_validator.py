"""Run an automated validator node against this portal's database.

manage.py run_validator --key-file path/to/key.hex     # one validator, polls forever
manage.py run_validator --demo --quorum 1 [--count 3]  # fund, bond and run demo validators
add --once to handle current assignments and exit."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from eth_account import Account

from quorums.services import demo_validators
from quorums.validator_node import run_once


class Command(BaseCommand):
    help = "Poll validation assignments, re-hash and check each file, sign and submit EIP-712 verdicts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--key-file", help="File holding the validator's private key (hex).")
        parser.add_argument("--demo", action="store_true", help="Create, fund and bond demo validators.")
        parser.add_argument("--quorum", type=int, help="Quorum id for --demo.")
        parser.add_argument("--count", type=int, default=3)
        parser.add_argument(
            "--interval", type=float, default=2.0, help="Seconds to wait after a poll that found nothing."
        )
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, **opts) -> None:
        if opts["demo"]:
            if not opts["quorum"]:
                raise CommandError("--demo needs --quorum <id>.")
            accounts = demo_validators(quorum_id=opts["quorum"], count=opts["count"])
        elif opts["key_file"]:
            try:
                key = Path(opts["key_file"]).read_text().strip()
                accounts = [Account.from_key(key)]
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read a private key from {opts['key_file']}: {exc}") from None
        else:
            raise CommandError("Give --key-file or --demo.")
        self.stdout.write(f"Validating as {', '.join(a.address for a in accounts)}")
        while True:
            n = run_once(accounts)
            if n:
                self.stdout.write(f"submitted {n} verdict(s)")
            if opts["once"]:
                return
            if not n:  # busy: look again at once; idle: wait --interval seconds
                time.sleep(opts["interval"])
