"""A real local EVM for tests: py-evm (through eth-tester) behind a real JSON-RPC HTTP server.

The portal reaches it through PORTAL_CHAIN_RPC exactly as it reaches a production node: HTTP
POSTs of JSON-RPC requests. The wallets deployed here are built by the project itself from the
Vyper sources in contracts/wallets/ (contracts/build/wallets.json, checked by
tests/portal/test_signatures_contracts.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from eth_abi import encode
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from web3 import EthereumTesterProvider, Web3

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
WALLETS = json.loads((CONTRACTS / "build" / "wallets.json").read_text())["contracts"]
ERC6492_MAGIC = bytes.fromhex("64926492" * 8)


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _jsonable(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):  # receipts, blocks, transactions: as a node spells them
        return {_camel(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = str(key).split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class LocalChain:
    """One py-evm chain served over HTTP on 127.0.0.1. `calls` counts the JSON-RPC requests it
    answered (by method), so tests can prove a path made none."""

    tester: EthereumTester = field(default_factory=EthereumTester)
    calls: dict[str, int] = field(default_factory=dict)
    hang: threading.Event | None = None  # when set, requests wait on it (a node that stops answering)
    # A misbehaving node: script(request) -> (HTTP status, raw body) replaces the answer, or None.
    script: Callable[[dict], tuple[int, bytes] | None] | None = None

    def __post_init__(self) -> None:
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.funder = self.w3.eth.accounts[0]
        self._lock = threading.Lock()
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_OPTIONS(self) -> None:  # a browser's CORS preflight before its JSON POST
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "POST")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if chain.hang is not None:
                    chain.hang.wait()
                scripted = chain.script(body) if chain.script and isinstance(body, dict) else None
                if scripted is not None:
                    status, data = scripted
                else:
                    answer = [chain.answer(r) for r in body] if isinstance(body, list) else chain.answer(body)
                    status, data = 200, json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")  # as public RPC nodes answer browsers
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, request: dict) -> dict:
        method, params = request.get("method"), list(request.get("params") or [])
        self.calls[method] = self.calls.get(method, 0) + 1
        if method == "eth_call" and params and "from" not in params[0]:
            params[0] = {**params[0], "from": self.funder}  # as a node lets eth_call run from any account
        if method == "eth_call" and params and "gas" not in params[0]:
            params[0] = {**params[0], "gas": hex(25_000_000)}
        reply = {"jsonrpc": "2.0", "id": request.get("id")}
        control = self.CONTROL.get(method)
        if control is not None:  # what hardhat/anvil/geth offer a test: snapshots, a paused miner
            with self._lock:
                return {**reply, "result": _jsonable(control(self, *params))}
        try:
            with self._lock:  # eth-tester is not thread-safe
                response = self.w3.manager._make_request(method, params)
        except TransactionFailed as exc:
            return {**reply, "error": {"code": 3, "message": str(exc.args[0] if exc.args else "execution reverted")}}
        except Exception as exc:  # what a node says about a request it cannot serve
            return {**reply, "error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}}
        if "error" in response:
            return {**reply, "error": response["error"]}
        return {**reply, "result": _jsonable(response.get("result"))}

    # --- test controls, over JSON-RPC as on hardhat/anvil (evm_*) and geth (miner_*) ----------

    def _snapshot(self) -> int:
        return self.tester.take_snapshot()

    def _revert(self, snapshot_id: object) -> bool:
        """Go back to a snapshot: every block after it disappears (a reorg, as a client sees it)."""
        self.tester.revert_to_snapshot(int(str(snapshot_id), 0))
        return True

    def _mine(self, blocks: object = 1) -> int:
        self.tester.mine_blocks(int(str(blocks), 0))
        return self.tester.get_block_by_number("latest")["number"]

    def _miner_stop(self) -> bool:
        """Hold transactions unmined (eth-tester keeps them pending; a same-nonce one replaces)."""
        self.tester.disable_auto_mine_transactions()
        return True

    def _miner_start(self) -> bool:
        self.tester.enable_auto_mine_transactions()
        return True

    CONTROL: ClassVar[dict] = {
        "evm_snapshot": _snapshot,
        "evm_revert": _revert,
        "evm_mine": _mine,
        "miner_stop": _miner_stop,
        "miner_start": _miner_start,
    }

    def rpc(self, method: str, *params: object) -> object:
        """Answer one JSON-RPC request in-process (the same path the HTTP server takes)."""
        answer = self.answer({"jsonrpc": "2.0", "id": 0, "method": method, "params": list(params)})
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()

    # --- deploying and driving the project's wallets (directly, not over HTTP) ----------------

    def _send(self, data: bytes | str, *, to: str | None = None, sender: str | None = None) -> dict:
        tx = {"from": sender or self.funder, "data": data if isinstance(data, str) else "0x" + data.hex()}
        if to:
            tx["to"] = to
        tx_hash = self.w3.eth.send_transaction({**tx, "gas": 5_000_000})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, receipt
        return receipt

    def deploy(self, name: str, *args: tuple[str, object], blueprint: bool = False) -> str:
        """Deploy a contract from contracts/build/wallets.json; args are (abi type, value) pairs."""
        code = bytes.fromhex(WALLETS[name]["blueprint_bytecode" if blueprint else "bytecode"].removeprefix("0x"))
        if args:
            code += encode([t for t, _ in args], [v for _, v in args])
        return to_checksum_address(self._send(code)["contractAddress"])

    def transact(self, to: str, signature: str, *args: tuple[str, object], sender: str | None = None) -> None:
        data = selector(signature) + encode([t for t, _ in args], [v for _, v in args])
        self._send(data, to=to, sender=sender)

    def call(self, to: str, signature: str, *args: tuple[str, object]) -> bytes:
        data = selector(signature) + encode([t for t, _ in args], [v for _, v in args])
        return bytes(self.w3.eth.call({"to": to, "data": "0x" + data.hex()}))

    def has_code(self, address: str) -> bool:
        return len(self.w3.eth.get_code(address)) > 0

    def fund(self, address: str, wei: int = 10**18) -> None:
        self.w3.eth.send_transaction({"from": self.funder, "to": address, "value": wei, "gas": 21_000})


def wrap_6492(factory: str, factory_calldata: bytes, signature: bytes) -> str:
    """An ERC-6492 signature: abi.encode(factory, calldata, inner signature) ‖ magic suffix."""
    return "0x" + (encode(["address", "bytes", "bytes"], [factory, factory_calldata, signature]) + ERC6492_MAGIC).hex()
