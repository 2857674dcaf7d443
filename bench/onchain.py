"""On-chain anchoring benchmark on the test chain (py-evm behind the JSON-RPC harness): blocks
anchored per chain transaction, and the lag from a block's seal to its publication's confirmation
(one publisher pass every LEDGER_ANCHOR_POLL_SECONDS; N = 50 blocks or T = 5 s; depth 1).
Baseline: the legacy calldata path, one chain transaction per block.

    .venv/bin/python bench/onchain.py       (uses its own database, bench_onchain)

Prints one JSON line per figure."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_onchain")
os.environ.setdefault("PORTAL_HTTPS", "false")

import django  # noqa: E402
import psycopg  # noqa: E402

BENCH_DB = os.environ["DATABASE_URL"]
name, admin = BENCH_DB.rsplit("/", 1)[1], BENCH_DB.rsplit("/", 1)[0] + "/postgres"
with psycopg.connect(admin, autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.execute(f'CREATE DATABASE "{name}"')
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from ledger import onchain_tasks, services  # noqa: E402
from ledger.models_onchain import AnchorPublication, ChainTx, ChainTxState  # noqa: E402
from tests.chain import LocalChain  # noqa: E402
from tests.chain.onchain import PUBLISHER  # noqa: E402

BLOCKS = int(os.environ.get("BENCH_BLOCKS", 200))
POLL = float(os.environ.get("BENCH_POLL_SECONDS", 1.0))


def emit(figure: str, value: float, unit: str, baseline: float, target: dict) -> None:
    ratio = value / baseline if baseline else None
    line = {
        "bench": "onchain",
        "figure": figure,
        "value": round(value, 3),
        "unit": unit,
        "baseline": round(baseline, 3),
        "ratio": round(ratio, 2) if ratio else None,
        "target": target,
    }
    print(json.dumps(line), flush=True)


def main() -> None:
    call_command("migrate", verbosity=0)
    chain = LocalChain()
    chain.fund(PUBLISHER.address, 100 * 10**18)
    settings.PORTAL_CHAIN_RPC = {chain.w3.eth.chain_id: chain.url}
    settings.LEDGER_ANCHOR_CHAIN_ID = chain.w3.eth.chain_id
    settings.LEDGER_ANCHOR_PRIVATE_KEY = "0x" + PUBLISHER.key.hex().removeprefix("0x")
    settings.LEDGER_ANCHOR_CONFIRMATIONS = 1
    settings.LEDGER_ANCHOR_EVERY_BLOCKS = 50
    settings.LEDGER_ANCHOR_EVERY_SECONDS = 5
    out = io.StringIO()
    call_command("deploy_contracts", "--only", "LedgerAnchor", stdout=out)
    settings.LEDGER_ANCHOR_CONTRACT = out.getvalue().strip().split("=", 1)[1]
    sealed_at: dict[int, float] = {}
    lags: list[float] = []
    for i in range(BLOCKS):
        services.anchor(kind="bench.record", subject=f"r{i}", payload={"i": i})
        block = services.block_seal()
        sealed_at[block.height] = time.monotonic()
        if i % 10 == 9:  # a publisher pass every ten seals (a seal every POLL/10 s)
            onchain_tasks.publish(now=timezone.now())
            time.sleep(POLL / 10)
    deadline = time.monotonic() + 120
    while (
        ChainTx.objects.filter(purpose="anchor").exclude(state=ChainTxState.CONFIRMED).exists()
        or (AnchorPublication.objects.order_by("-to_height").values_list("to_height", flat=True).first() or 0) < BLOCKS
    ):
        onchain_tasks.publish(now=timezone.now())
        time.sleep(POLL / 10)
        if time.monotonic() > deadline:
            raise SystemExit("publications were not confirmed in 120 s")
    for publication in AnchorPublication.objects.select_related("chain_tx"):
        confirmed = publication.chain_tx.confirmed_at.timestamp() - time.time() + time.monotonic()
        lags.extend(confirmed - sealed_at[h] for h in range(publication.from_height, publication.to_height + 1))
    txs = AnchorPublication.objects.count()
    emit("blocks anchored per chain transaction", BLOCKS / txs, "blocks/tx", 1.0, {})
    lags.sort()
    emit("seal to confirmed lag, median", lags[len(lags) // 2], "s", 0.0, {})
    emit("seal to confirmed lag, max", lags[-1], "s", float(settings.LEDGER_ANCHOR_EVERY_SECONDS), {})
    chain.stop()


if __name__ == "__main__":
    main()
