"""Compile the test wallets in contracts/wallets/ with Vyper (offline) into build/wallets.json.

    .venv/bin/python contracts/build_wallets.py > contracts/build/wallets.json

tests/portal/test_signatures_contracts.py rebuilds them and compares with the committed record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import vyper

HERE = Path(__file__).resolve().parent
WALLETS = ("OwnedWallet", "GarbageWallet", "RevertingWallet", "LegacyWallet", "WalletFactory", "ApprovalWallet")


def build() -> dict:
    record: dict = {"compiler": f"vyper {vyper.__version__}", "contracts": {}}
    for name in WALLETS:
        source = (HERE / "wallets" / f"{name}.vy").read_text()
        out = vyper.compile_code(
            source, contract_path=f"wallets/{name}.vy", output_formats=["abi", "bytecode", "blueprint_bytecode"]
        )
        record["contracts"][name] = {
            "source": f"wallets/{name}.vy",
            "abi": out["abi"],
            "bytecode": out["bytecode"],
            "blueprint_bytecode": out["blueprint_bytecode"],
        }
    return record


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
