"""The bytecode the portal runs is the bytecode its committed sources compile to, with the
committed compilers: solc-js (contracts/package.json) for the ERC-6492 validator, Vyper for the
test wallets. Nothing third-party is pasted in as bytecode."""

from __future__ import annotations

import json
import runpy
import subprocess
from pathlib import Path

import pytest
import vyper

from portal.signatures import validator_initcode

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@pytest.mark.slow
def test_erc6492_validator_bytecode_is_rebuilt_identically_by_solc_js():
    built = subprocess.run(
        ["node", "build.js"], cwd=CONTRACTS, capture_output=True, text=True, check=True, timeout=300
    ).stdout
    committed = json.loads((CONTRACTS / "build" / "ValidateSigOffchain.json").read_text())
    rebuilt = json.loads(built)
    assert rebuilt == committed
    assert committed["compiler"].startswith("solc-js 0.8.24+")
    lock = json.loads((CONTRACTS / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/solc"]["version"] == "0.8.24"
    assert validator_initcode().hex() == committed["contracts"]["ValidateSigOffchain"]["bytecode"][2:]


def test_wallet_bytecode_is_rebuilt_identically_by_vyper():
    build = runpy.run_path(str(CONTRACTS / "build_wallets.py"))["build"]
    committed = json.loads((CONTRACTS / "build" / "wallets.json").read_text())
    assert build() == committed
    assert {
        "OwnedWallet",
        "GarbageWallet",
        "RevertingWallet",
        "LegacyWallet",
        "WalletFactory",
        "ApprovalWallet",
    } <= set(committed["contracts"])
    assert committed["compiler"] == f"vyper {vyper.__version__}" == "vyper 0.4.3"


def test_onchain_contract_bytecode_is_rebuilt_identically_by_vyper():
    build = runpy.run_path(str(CONTRACTS / "build_onchain.py"))["build"]
    committed = json.loads((CONTRACTS / "build" / "onchain.json").read_text())
    assert build() == committed
    assert committed["compiler"] == f"vyper {vyper.__version__}" == "vyper 0.4.3"
    assert set(committed["contracts"]) == {"LedgerAnchor", "DataAnchoringToken"}
