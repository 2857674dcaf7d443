"""The ledger's JSON shapes, shared by the API operations and the `.json` page aliases."""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import Field

from portal.schemas import INT64_MAX

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


class ProofOut(Schema):
    format: str
    root: str
    leafEncoding: list[str]
    value: list[str]
    proof: list[str]
    leafHash: str
    leaf: LeafOut
    block: HeaderOut
    headers: list[HeaderOut]
