"""Verify a DAT provenance bundle offline: `python manage.py verify_bundle bundle.json`, and with
`--rpc URL` also check every proof's chainAnchor against the LedgerAnchor contract on that node.

Needs no database: it recomputes every hash from the file (see dats.bundles.verify). Exit status
0 when the bundle verifies, 1 when it does not (the first failed check is printed)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from dats.bundles import InvalidBundle, verify
from portal.management.files import read_text_argument


class Command(BaseCommand):
    help = "Verify a DAT provenance bundle (JSON) offline, without the database."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", help="the bundle file, or - for standard input")
        parser.add_argument("--rpc", default="", help="a JSON-RPC URL: check the chain anchors on that chain")

    def handle(self, *args, path: str, rpc: str = "", **options):
        text = read_text_argument(path)
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
        if not self._chain_anchors(bundle, rpc):
            raise SystemExit(1)
        self.stdout.write(
            f"  compare the latest block hash {report.head['blockHash']} (height {report.head['height']}) with a "
            "source you trust (the portal's /ledger/headers.json or its public EVM anchor)."
        )

    def _chain_anchors(self, bundle: dict, rpc: str) -> bool:
        """Each distinct chainAnchor: checked against the chain with --rpc, else reported as not checked."""
        from ledger.onchain import check_on_chain
        from portal.chains import ChainUnavailable, RpcClient

        seen: dict[str, dict] = {}
        for entry in bundle.get("dats", []):
            for proof in [entry["mint"], entry["round"], *entry["events"]]:
                anchor = proof.get("chainAnchor")
                if anchor is not None:
                    seen.setdefault(anchor["rootOfRoots"], anchor)
        for anchor in seen.values():
            where = f"anchored on chain {anchor['chainId']} in tx {anchor['txHash']} (contract {anchor['contract']})"
            if not rpc:
                self.stdout.write(f"  {where}, not checked (pass --rpc URL to check it)")
                continue
            try:
                lines = check_on_chain(anchor, RpcClient(chain_id=int(anchor["chainId"]), url=rpc, timeout=10.0))
            except (ValueError, ChainUnavailable) as exc:
                self.stderr.write(f"INVALID: {where}: {exc}")
                return False
            for line in lines:
                self.stdout.write(f"  checked on chain: {line}")
        return True
