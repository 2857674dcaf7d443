"""The public-chain block a committee seed takes (docs/validation.md "Committee seed").

With QUORUM_SEED_CHAIN_ID naming a chain in PORTAL_CHAIN_RPC, a round's seed also takes the hash of
the first block of that chain whose timestamp is after the second the round opened (the opening
time is in the round's anchored open record), once that block has QUORUM_SEED_CONFIRMATIONS
blocks on top of it. Nobody running the portal controls that hash, and nobody knows it when the
round's candidates are fixed. Anyone with a node of that chain finds the same block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from portal.chains import ChainUnavailable, RpcClient, client


@dataclass(frozen=True)
class ChainBlock:
    number: int
    hash: str
    timestamp: int

    def as_json(self, chain_id: int) -> dict[str, Any]:
        return {"chain_id": chain_id, "number": self.number, "hash": self.hash, "timestamp": self.timestamp}


def seed_chain_id() -> int:
    """The chain whose blocks go into committee seeds, or 0 when none is configured."""
    return int(getattr(settings, "QUORUM_SEED_CHAIN_ID", 0) or 0)


def _int(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not a hex quantity: {str(value)[:40]!r}")
    return int(value, 16)


class BlockReader:
    """Reads blocks of one chain through its RPC client, each at most once per reader."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc
        self.blocks: dict[int, ChainBlock] = {}
        self._head: ChainBlock | None = None

    def _read(self, tag: str) -> ChainBlock:
        raw = self.rpc.request("eth_getBlockByNumber", [tag, False])
        try:
            if not isinstance(raw, dict):
                raise ValueError("no such block")
            block_hash = str(raw["hash"]).lower()
            if len(block_hash) != 66 or not block_hash.startswith("0x"):
                raise ValueError(f"block hash {block_hash[:70]!r}")
            block = ChainBlock(_int(raw["number"]), block_hash, _int(raw["timestamp"]))
        except (KeyError, ValueError) as exc:
            raise ChainUnavailable(
                self.rpc.chain_id, f"eth_getBlockByNumber({tag}) answered a malformed block: {exc}"
            ) from None
        self.blocks[block.number] = block
        return block

    def head(self) -> ChainBlock:
        if self._head is None:
            self.rpc.confirm_chain()
            self._head = self._read("latest")
        return self._head

    def block(self, number: int) -> ChainBlock:
        return self.blocks.get(number) or self._read(hex(number))

    def first_after(self, timestamp: int, confirmations: int) -> ChainBlock | None:
        """The first block with a timestamp greater than `timestamp`, once `confirmations` blocks
        are on top of it; None while there is no such block yet (or it is too recent)."""
        head = self.head()
        if head.timestamp <= timestamp:
            return None
        # Walk back from the head in growing steps to a block at or before `timestamp`, then
        # bisect: timestamps strictly increase along the chain.
        later, step = head, 1
        while True:
            number = max(later.number - step, 0)
            candidate = self.block(number)
            if candidate.timestamp <= timestamp:
                earlier = candidate
                break
            later = candidate
            if number == 0:
                return later if head.number - later.number >= confirmations else None
            step *= 2
        while later.number - earlier.number > 1:
            middle = self.block((later.number + earlier.number) // 2)
            if middle.timestamp > timestamp:
                later = middle
            else:
                earlier = middle
        return later if head.number - later.number >= confirmations else None


def reader(chain_id: int) -> BlockReader:
    """A block reader for the chain, or ChainUnavailable when PORTAL_CHAIN_RPC has no node for it."""
    rpc = client(chain_id)
    if rpc is None:
        raise ChainUnavailable(chain_id, "PORTAL_CHAIN_RPC names no node for it")
    return BlockReader(rpc)
