"""Chains are configuration: PORTAL_CHAIN_RPC maps a chain id to a JSON-RPC URL, and this is the
one small client the portal uses to read them (eth_blockNumber, eth_getCode, eth_call).

A node that cannot be reached, times out, answers HTTP errors, malformed JSON or a JSON-RPC error
other than a revert raises ChainUnavailable (the callers answer 503 `chain_unavailable`). A call
that reverts is not an outage: `call()` returns None for it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import requests

_ids = count(1)
_local = threading.local()
EXECUTION_FAILURES = ("revert", "out of gas", "invalid opcode", "invalid jump", "stack underflow", "stack limit")
_confirmed: dict[tuple[str, int], bool] = {}  # (url, chain id) pairs whose eth_chainId matched


class ChainUnavailable(Exception):
    """The chain's node could not answer; the sentence says which chain and why."""

    def __init__(self, chain_id: int, why: str) -> None:
        super().__init__(f"The RPC node for chain {chain_id} could not answer ({why}); try again shortly.")
        self.chain_id = chain_id
        self.detail = str(self)


def parse_rpc_map(value: str | dict | None) -> dict[int, str]:
    """`1=https://…,31337=http://127.0.0.1:8545` (or an already-built dict) → {1: 'https://…', …}."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {int(k): str(v) for k, v in value.items()}
    out: dict[int, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        chain, sep, url = item.partition("=")
        if not sep or not chain.strip().isdigit() or not url.strip():
            raise ValueError(f"PORTAL_CHAIN_RPC entry {item!r} is not CHAIN_ID=URL")
        out[int(chain)] = url.strip()
    return out


def rpc_url(chain_id: int) -> str | None:
    return parse_rpc_map(settings.PORTAL_CHAIN_RPC).get(int(chain_id))


def _session() -> requests.Session:
    # requests is imported on the first call: most processes never read a chain, and the import
    # costs every process about 5 MB (portal.chains is loaded at start-up through the ledger).
    import requests

    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


@dataclass(frozen=True)
class RpcClient:
    chain_id: int
    url: str
    timeout: float

    def request(self, method: str, params: list) -> Any:
        """The JSON-RPC result; a revert raises CallReverted, anything else ChainUnavailable."""
        import requests

        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
        try:
            response = _session().post(self.url, json=body, timeout=self.timeout)
        except requests.Timeout:
            raise ChainUnavailable(self.chain_id, f"timed out after {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise ChainUnavailable(self.chain_id, type(exc).__name__) from None
        if response.status_code != 200:
            raise ChainUnavailable(self.chain_id, f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise ChainUnavailable(self.chain_id, "the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ChainUnavailable(self.chain_id, "the answer is not a JSON-RPC response")
        error = answer.get("error")
        if error is not None:
            message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
            code = error.get("code") if isinstance(error, dict) else None
            # geth, erigon, nethermind, anvil: code 3 with revert data, or -32000 "execution
            # reverted" / "out of gas" / "invalid opcode": the call failed, the node did not.
            if code == 3 or any(word in message.lower() for word in EXECUTION_FAILURES):
                raise CallReverted(message)
            raise ChainUnavailable(self.chain_id, f"JSON-RPC error {code}: {message[:200]}")
        if "result" not in answer:
            raise ChainUnavailable(self.chain_id, "the answer has no result")
        return answer["result"]

    def _hex_result(self, method: str, params: list) -> bytes:
        result = self.request(method, params)
        if not isinstance(result, str) or not result.startswith("0x"):
            raise ChainUnavailable(self.chain_id, f"{method} answered {str(result)[:40]!r}")
        try:
            return bytes.fromhex(result[2:] if len(result) % 2 == 0 else "0" + result[2:])
        except ValueError:
            raise ChainUnavailable(self.chain_id, f"{method} answered non-hex data") from None

    def confirm_chain(self) -> None:
        """Check once per process that the node serves the chain it is configured for: a
        PORTAL_CHAIN_RPC entry pointing chain 1 at a testnet node must not verify mainnet wallets."""
        if _confirmed.get((self.url, self.chain_id)):
            return
        served = int.from_bytes(self._hex_result("eth_chainId", []), "big")
        if served != self.chain_id:
            raise ChainUnavailable(self.chain_id, f"the configured node serves chain {served}")
        _confirmed[(self.url, self.chain_id)] = True

    def block_number(self) -> int:
        return int.from_bytes(self._hex_result("eth_blockNumber", []), "big")

    def get_code(self, address: str, block: int) -> bytes:
        return self._hex_result("eth_getCode", [address, hex(block)])

    def call(self, *, to: str | None, data: bytes, block: int) -> bytes | None:
        """eth_call's return data at `block`, or None if the call reverted. `to=None` is a
        deployless call: `data` is init code and the answer is what its constructor returns."""
        tx: dict[str, str] = {"data": "0x" + data.hex()}
        if to is not None:
            tx["to"] = to
        try:
            return self._hex_result("eth_call", [tx, hex(block)])
        except CallReverted:
            return None


class CallReverted(Exception):
    pass


def client(chain_id: int) -> RpcClient | None:
    """The RPC client for `chain_id`, or None when PORTAL_CHAIN_RPC names no node for it."""
    url = rpc_url(chain_id)
    if url is None:
        return None
    return RpcClient(chain_id=int(chain_id), url=url, timeout=float(settings.PORTAL_CHAIN_RPC_TIMEOUT))
