"""The embedded run: the same services on SQLite (WAL), where PostgreSQL-only SQL is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from ledger import owners, proofs, selectors, services
from ledger.errors import InsufficientFunds
from ledger.verify import ledger_verify
a, b = owners.user("0x" + "1" * 40), owners.idao("bio")
services.mint(to=a, asset="LAZ", amount=10, idempotency_key="m")
services.transfer(source=a, destination=b, asset="LAZ", amount=4, kind="transfer", idempotency_key="t", memo='q"\\n✓')
try:
    services.transfer(source=a, destination=b, asset="LAZ", amount=40, kind="transfer", idempotency_key="t2")
    refused = False
except InsufficientFunds:
    refused = True
leaf = services.anchor(kind="x.y", subject="s", payload={"k": [1, "ü"]})
block = services.block_seal()
report = ledger_verify()
print(json.dumps({"refused": refused, "balances": selectors.balances([a, b], "LAZ"), "leaves": block.leaf_count,
                  "proof": proofs.verify_proof(selectors.proof_bundle(leaf.pk)), "verified": report.ok}))
"""


@pytest.mark.slow
def test_the_ledger_works_on_the_embedded_sqlite_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update(PORTAL_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="portal.settings")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == (
        '{"refused": true, "balances": {"user:0x1111111111111111111111111111111111111111": 6, "idao:bio": 4},'
        ' "leaves": 3, "proof": true, "verified": true}'
    )
