"""Run the HTTP-only validator node (the `validator` package) from manage.py, for convenience.

manage.py run_validator --portal https://portal.example --key-file key.hex [--once] [...]
    the same as `python -m validator --portal … --key-file …` (all its flags are accepted)
manage.py run_validator --portal http://127.0.0.1:8000 --demo [--quorum 1] [--count 3]
    fund and bond the deterministic demo validators in this portal's database (in --quorum, by
    default the demo quorum manage.py demo_data made), then run one `python -m validator` process
    per key against --portal (demo data only: their keys are public); docker compose's demo
    `validators` service runs this
manage.py run_validator --portal … --demo --quorum 1 --count 3 --only 2 --key-dir var/validators
    the same for demo validator 2 alone, in this process (its key written to --key-dir): what
    bin/run supervises, one process per validator

The node itself never reads this portal's database or storage: it talks to --portal over HTTP."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from validator.config import parser as node_parser
from validator.node import main as node_main


class Command(BaseCommand):
    help = "Run the HTTP-only validator node against a portal: poll, download, check, sign and submit verdicts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--demo", action="store_true", help="Fund, bond and run the demo validators.")
        parser.add_argument("--quorum", type=int, help="Quorum id for --demo (default: the demo quorum).")
        parser.add_argument("--count", type=int, default=3, help="How many demo validators (--demo).")
        parser.add_argument("--only", type=int, help="Run demo validator N (1-based) alone, in this process (--demo).")
        parser.add_argument("--key-dir", help="Where --only writes its demo key (default: a temporary directory).")
        for action in node_parser()._actions:
            if action.dest == "help":
                continue
            kwargs = {"dest": action.dest, "default": action.default, "help": action.help}
            if action.nargs == 0:
                kwargs["action"] = "store_true"
            else:
                kwargs["type"] = action.type
            # long options only: Django's own -v is --verbosity
            parser.add_argument(*[o for o in action.option_strings if o.startswith("--")], **kwargs)

    def handle(self, *args, **opts) -> None:
        argv = self._node_argv(opts)
        if not opts["demo"]:
            code = node_main(argv)
            if code:
                raise CommandError(f"the validator node stopped with status {code}")
            return
        from quorums.services import demo_validators

        if not opts["quorum"]:
            from quorums.demo import NAME
            from quorums.models import Quorum

            quorum = Quorum.objects.filter(name=NAME).order_by("pk").first()
            if quorum is None:
                raise CommandError(f"--demo needs --quorum <id>, or the demo quorum ({NAME}; manage.py demo_data).")
            opts["quorum"] = quorum.pk

        accounts = demo_validators(quorum_id=opts["quorum"], count=opts["count"])
        if opts.get("only"):
            self._run_one(accounts, opts, argv)
            return
        with tempfile.TemporaryDirectory(prefix="demo-validators-") as keys:
            procs = []
            for i, account in enumerate(accounts):
                key = Path(keys) / f"validator-{i}.hex"
                key.write_text(account.key.hex())
                own = ["--key-file", str(key)]
                if opts.get("cache_dir"):  # one journal and MinHash cache per validator
                    own += ["--cache-dir", str(Path(opts["cache_dir"]) / f"validator-{i}")]
                procs.append(subprocess.Popen([sys.executable, "-m", "validator", *argv, *own]))  # noqa: S603
            self.stdout.write(f"Validating as {', '.join(a.address for a in accounts)}")
            codes = [proc.wait() for proc in procs]
        if any(codes):
            raise CommandError(f"validator nodes stopped with status {codes}")

    def _run_one(self, accounts: list, opts: dict, argv: list[str]) -> None:
        index = opts["only"]
        if not 1 <= index <= len(accounts):
            raise CommandError(f"--only takes 1 to {len(accounts)}.")
        account = accounts[index - 1]
        key_dir = Path(opts.get("key_dir") or tempfile.mkdtemp(prefix="demo-validator-"))
        key_dir.mkdir(parents=True, exist_ok=True)
        key = key_dir / f"validator-{index}.hex"
        key.touch(mode=0o600)
        key.write_text(account.key.hex())
        own = ["--key-file", str(key), "--cache-dir", str(Path(opts.get("cache_dir") or key_dir) / f"cache-{index}")]
        self.stdout.write(f"Validating as {account.address}")
        code = node_main([*argv, *own])
        if code:
            raise CommandError(f"the validator node stopped with status {code}")

    def _node_argv(self, opts: dict) -> list[str]:
        argv: list[str] = []
        for action in node_parser()._actions:
            if action.dest == "help" or (opts["demo"] and action.dest in ("key_file", "cache_dir")):
                continue
            value = opts.get(action.dest)
            if action.nargs == 0:
                if value:
                    argv.append(action.option_strings[-1])
            elif value is not None:
                argv += [action.option_strings[-1], str(value)]
        return argv
