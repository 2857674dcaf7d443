"""The ledger's JSON shapes, shared by the API operations and the `.json` page aliases."""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field

from portal.schemas import INT64_MAX

from .models import Asset, Kind
from .services import MAX_BATCH

Height = Annotated[int, Field(ge=0, le=INT64_MAX)]
HeaderLimit = Annotated[int, Field(ge=1, le=1000)]
# An account owner (`user:0x…`, `idao:<slug>`, `issuer`, …): short, no control characters.
Owner = Annotated[str, Field(min_length=1, max_length=200)]


class HeaderOut(Schema):
    height: int
    prevHash: str
    merkleRoot: str
    leafCount: int
    timestamp: int
    blockHash: str


class HeadersQuery(Schema):
    after: Height = 0
    limit: HeaderLimit = 500


class HeaderPageOut(Schema):
    headers: list[HeaderOut]
    next: int | None
    latest: int


class EvmOut(Schema):
    chainId: int | None
    txHash: str | None


class BlockOut(Schema):
    header: HeaderOut
    leafIds: list[int]
    evm: EvmOut


class BalancesOut(Schema):
    owner: str
    balances: dict[str, str]


class LeafOut(Schema):
    id: int
    kind: str
    subject: str
    payload: str


class ChainAnchorOut(Schema):
    """The extra Merkle step from a block's hash to the root its publication anchored on a public
    chain (docs/ledger.md "On-chain anchoring"); present only once the publication is confirmed."""

    format: str
    chainId: int
    contract: str
    txHash: str
    chainBlock: int
    fromHeight: int
    toHeight: int
    lastBlockHash: str
    rootOfRoots: str
    leafEncoding: list[str]
    value: list[str]
    proof: list[str]


class ProofOut(Schema):
    """A ledger proof bundle (docs/ledger.md): the leaf, its Merkle proof and the headers after it.
    Serialised without unset fields, so `chainAnchor` is absent until the block is anchored."""

    format: str
    root: str
    leafEncoding: list[str]
    value: list[str]
    proof: list[str]
    leafHash: str
    leaf: LeafOut
    block: HeaderOut
    headers: list[HeaderOut]
    chainAnchor: ChainAnchorOut | None = None


class TransferItemIn(Schema):
    source: str = Field(description="Owner paying, `<kind>:<name>`")
    destination: str
    asset: Literal[tuple(Asset.values)]  # type: ignore[valid-type]
    amount: str = Field(description="Decimal integer in the asset's smallest unit", pattern=r"^[0-9]{1,78}$")
    kind: Literal[tuple(Kind.values)] = "transfer"  # type: ignore[valid-type]
    idempotency_key: str = Field(min_length=1, max_length=200)
    memo: str = Field("", max_length=500)


class TransfersIn(Schema):
    transfers: list[TransferItemIn] = Field(min_length=1, max_length=MAX_BATCH)
    atomic: bool = Field(True, description="All or nothing (true) or each transfer on its own (false)")


class TransferResultOut(Schema):
    status: Literal["applied", "replayed", "refused"]
    transaction_id: int | None
    leaf_id: int | None
    error: str | None = None
    detail: str | None = None


class TransfersOut(Schema):
    applied: int
    replayed: int
    refused: int
    results: list[TransferResultOut]


class FaucetOut(Schema):
    owner: str
    asset: str
    amount: str
    transaction_id: int
    balance: str
