"""The JSON shapes of the dats API: DAT records, search pages, provenance bundles, verification,
access grants, owner actions' anchored events and model manifests. Field names (and aliases, for
`class` and `from`) are the wire names: they are contracts (docs/dats.md)."""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import Strict

from ledger.schemas import HeaderOut, ProofOut
from portal.schemas import BodyId, NonNegativeInt64

from .policies import MAX_QUOTA

Quota = Annotated[int, Strict(), Field(ge=0, le=MAX_QUOTA)]  # an integer column


class DatAccessIn(Schema):
    use: str
    idempotency_key: str | None = None


class DatPolicyIn(Schema):
    allowed_uses: list[str] | None = None
    price_credit: NonNegativeInt64 | None = None  # a bigint column
    quota: Quota | None = None
    expires_at: str | None = None


class DatTransferIn(Schema):
    to: str


class ChallengeIn(Schema):
    reason_code: str  # plagiarism, personal_data, licence, duplicate or other
    evidence: str  # 1–2000 characters
    duplicate_of: str = ""  # optional: dat:<id> or the 0x content hash it duplicates


class ChallengeOut(Schema):
    """A challenge of a DAT and, once its panel decided, what moved (bond, bounty, slashes, escrow)."""

    id: int
    dat: int
    challenger: str
    reason_code: str
    evidence: str
    duplicate_of: str
    bond: int
    bond_asset: str
    panel_round: int
    state: str
    outcome: dict[str, Any]
    anchor_leaf_id: int | None


class ParentsIn(Schema):
    parents: list[BodyId]


class DatPolicyOut(Schema):
    allowed_uses: list[str]
    price_credit: str  # a decimal string: CREDIT amounts can pass JavaScript's safe integers
    quota: int | None
    expires_at: str | None
    revoked: bool


class DatOut(Schema):
    tokenId: int
    klass: str = Field(..., alias="class")
    title: str
    owner: str
    idao: str
    sha256: str
    keccak256: str
    size: int
    round: int
    parents: list[int] | None  # null in search results, the parents' token ids on a DAT's own record
    policy: DatPolicyOut
    used: int
    policyVersion: int
    anchorLeafId: int | None
    mintedAt: str
    url: str
    bundle: str
    # The MinHash signature of the content (docs/validator.md), null until computed.
    minhash: list[int] | None = None
    status: str = "active"  # active, contested (a challenge is open) or revoked
    scores: dict[str, int] = {}  # the validation round's score (per criterion and "composite", bps)


class DatPageOut(Schema):
    results: list[DatOut]
    next: str | None  # the cursor of the next page (`after`), null on the last


class BundleCurrentOut(Schema):
    owner: str
    policy: dict[str, Any]  # as anchored (the mint record's or the latest policy event's)
    parents: list[int]


class BundleEntryOut(Schema):
    tokenId: int
    mint: ProofOut
    round: ProofOut
    events: list[ProofOut]
    current: BundleCurrentOut


class BundleOut(Schema):
    """A provenance bundle (docs/dats.md): the DAT first, then every ancestor by ascending id."""

    format: str
    tokenId: int
    dats: list[BundleEntryOut]


class BundleVerifyOut(Schema):
    """`valid` with what was checked and the block every proof chains to, or the first problem."""

    valid: bool
    problem: str | None = None
    checks: list[str]
    head: HeaderOut | None = None


class AccessGrantOut(Schema):
    grant: int
    tokenId: int
    use: str
    fee: str
    ownerShare: str
    idaoShare: str
    payer: str
    ledgerTransaction: int | None
    anchorLeafId: int | None
    validUntil: str
    replayed: bool
    file: str


class PolicyEventOut(Schema):
    """An anchored policy change or revocation."""

    seq: int
    anchorLeafId: int | None
    tokenId: int
    kind: str
    by: str | None
    version: int
    policy: DatPolicyOut


class TransferEventOut(Schema):
    seq: int
    anchorLeafId: int | None
    tokenId: int
    kind: str
    by: str | None
    from_: str = Field(..., alias="from")
    to: str


class ParentsEventOut(Schema):
    seq: int
    anchorLeafId: int | None
    tokenId: int
    kind: str
    by: str | None
    added: list[int]
    parents: list[int]


class LineageOut(Schema):
    contribution: str
    parents: list[int]


class ManifestEntryOut(Schema):
    """One approved data reference; `title`, `file` and `access` only when it resolves to a DAT."""

    ref: str
    proposal: int | None
    tokenId: int | None
    title: str | None = None
    sha256: str | None
    keccak256: str | None
    size: int | None
    trainingAllowed: bool | None
    flag: str | None
    file: str | None = None
    access: str | None = None


class ManifestOut(Schema):
    model: int
    name: str
    idao: str
    version: int
    artifactHash: str
    current: bool
    entries: list[ManifestEntryOut]
    flagged: bool


class MinhashItemOut(Schema):
    dat: str
    content_hash: str
    owner: str
    accepted_at: str
    minhash: list[int]


class MinhashPageOut(Schema):
    """docs/validator.md: the scheme every signature was made with, the items, and the cursor."""

    scheme: dict[str, Any]
    items: list[MinhashItemOut]
    next: str | None
