"""Compile the portal's on-chain contracts (contracts/anchor/, contracts/erc8028/) with Vyper,
offline, into build/onchain.json:

    .venv/bin/python contracts/build_onchain.py > contracts/build/onchain.json

tests/portal/test_signatures_contracts.py rebuilds them and compares with the committed record;
`manage.py deploy_contracts` deploys the committed bytecode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import vyper

HERE = Path(__file__).resolve().parent
CONTRACTS = {"LedgerAnchor": "anchor/LedgerAnchor.vy", "DataAnchoringToken": "erc8028/DataAnchoringToken.vy"}


def build() -> dict:
    record: dict = {"compiler": f"vyper {vyper.__version__}", "contracts": {}}
    for name, path in CONTRACTS.items():
        out = vyper.compile_code((HERE / path).read_text(), contract_path=path, output_formats=["abi", "bytecode"])
        record["contracts"][name] = {"source": path, "abi": out["abi"], "bytecode": out["bytecode"]}
    return record


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
