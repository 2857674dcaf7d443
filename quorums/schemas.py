"""The JSON shapes of the quorums API (validator assignments, verdicts, rounds, bonds) and the
EIP-712 Verdict publication. Field names are the wire names: they are contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from portal.schemas import Amount, BodyId


class VerdictIn(Schema):
    message: dict[str, Any]
    signature: str


class VerdictBatchItem(Schema):
    round: BodyId
    message: dict[str, Any]
    signature: str


class VerdictBatchIn(Schema):
    verdicts: list[VerdictBatchItem]
    automated: bool = False  # an unsigned flag a session caller may set for its node's batches


class BondAmountIn(Schema):
    amount: Amount  # LAZ in the smallest unit; 0 is refused by the service (bond_too_small)


class VerdictTypedField(Schema):
    name: str
    type: str


class VerdictDomain(Schema):
    name: str
    version: str
    chainId: int


class VerdictMessage(Schema):
    validator: str
    round: int
    contentHash: str
    verdict: str
    reason: str
    # ScoredVerdict (version 2): the node fills in a score per criterion (basis points) and the evidence.
    authenticity: int | None = None
    ownership: int | None = None
    quality: int | None = None
    uniqueness: int | None = None
    evidence: str | None = None


class VerdictTypedData(Schema):
    """The full EIP-712 message, as eth_signTypedData_v4 takes it."""

    types: dict[str, list[VerdictTypedField]]
    primaryType: str
    domain: VerdictDomain
    message: VerdictMessage


class VerdictTypeVersion(Schema):
    version: int
    primaryType: str
    types: dict[str, list[VerdictTypedField]]


class VerdictPublicationOut(Schema):
    """What a wallet or library needs to build and sign a verdict: the current type (version 2,
    ScoredVerdict) at the top, every version still verified in `versions`."""

    domain: VerdictDomain
    types: dict[str, list[VerdictTypedField]]
    primaryType: str
    verdicts: list[str]
    criteria: list[str]
    versions: list[VerdictTypeVersion]
    notes: str


class AssignmentOut(Schema):
    round: int
    deadline: datetime
    content_hash: str
    subject: dict[str, Any]  # the facts the round's subject kind gives validators (kind-specific)
    typed_data: VerdictTypedData


class VerdictOut(Schema):
    verdict_id: int
    digest: str
    duplicate: bool


class EquivocationOut(Schema):
    error: str
    detail: str
    verdict_id: int
    digest: str
    duplicate: bool


class VerdictResultOut(Schema):
    """One item's outcome in a batch: 201 with the verdict, 409 equivocation with the verdict,
    or the refusal's status, error and detail (keys that do not apply are left out)."""

    status: int
    error: str | None = None
    detail: str | None = None
    verdict_id: int | None = None
    digest: str | None = None
    duplicate: bool | None = None


class VerdictBatchOut(Schema):
    results: list[VerdictResultOut]


class SeatOut(Schema):
    address: str
    stake: int


class RoundVerdictOut(Schema):
    validator: str
    verdict: str
    reason: str
    signature: str
    digest: str
    automated: bool
    scores: dict[str, int] | None = None  # a ScoredVerdict's basis points per criterion
    evidence: str = ""  # and the signed check results behind them (JSON)
    # How the signature was verified (portal.signatures.verify): eoa, erc1271 or erc6492.
    verified_by: str
    verified_chain_id: int | None = None
    verified_block: int | None = None


class SeedBlockOut(Schema):
    height: int
    hash: str


class CandidateOut(Schema):
    """A validator the committee draw saw, with the stake it drew by (published and anchored)."""

    validator: int
    address: str | None
    stake: int


class SeedChainBlockOut(Schema):
    chain_id: int
    number: int | None
    hash: str | None
    timestamp: int | None


class RoundOut(Schema):
    id: int
    quorum: int
    idao: str
    state: str
    outcome: str
    close_reason: str
    content_hash: str
    seed: str
    seed_block: SeedBlockOut | None
    candidates: list[CandidateOut]
    seed_chain_block: SeedChainBlockOut | None = Field(
        None,
        description="With a public chain configured: the first block of that chain after the round opened, whose "
        "hash the seed also takes (number and hash null while the round is still drawing).",
    )
    draw_note: str = Field("", description="Why a drawing round's committee is not drawn yet.")
    draw_proof: str | None = None
    open_anchor_leaf_id: int | None
    open_proof: str | None
    bundle: str
    attempt: int
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None
    tally: dict[str, Any]
    scores: dict[str, int]  # the stake-weighted median per criterion and the composite ({} unscored)
    verdicts_digest: str
    anchor_leaf_id: int | None
    proof: str | None
    committee: list[SeatOut]
    verdicts: list[RoundVerdictOut]  # empty while `verdicts_sealed` (an appeal of this decision is open)
    verdicts_sealed: bool = False
    appeal_of: int | None = None  # the round an appeal round re-decides
    appeal_level: int = 0


class BondOut(Schema):
    validator: int
    stake: int
    state: str


class UnbondOut(Schema):
    unbond: int
    amount: int
    available_at: datetime


# --- staff: quorum creation and parameters


class QuorumParametersIn(Schema):
    """Durations are whole seconds. Omitted parameters keep their value (or the default)."""

    committee_size: int | None = None
    threshold_bps: int | None = None
    min_participation_bps: int | None = None
    slash_equivocation_bps: int | None = None
    slash_minority_bps: int | None = None
    slash_absence_bps: int | None = None
    min_bond: int | None = None
    round_duration: int | None = None
    unbond_delay: int | None = None
    appeal_window: int | None = None  # seconds after a round's close its contributor may appeal
    appeal_bond: int | None = None  # in the quorum's appeal bond asset (smallest unit)
    appeal_bounty_bps: int | None = None
    appeal_fee_bps: int | None = None
    score_low_bps: int | None = None
    score_weights: dict[str, int] | None = None  # every criterion, basis points summing to 10000
    score_minimums: dict[str, int] | None = None  # criteria and "composite", 0–10000 each (missing: 0)
    appeal_bond_asset: str | None = None  # CREDIT or LAZ


class QuorumCreateIn(QuorumParametersIn):
    name: str
    description: str = ""
    reason: str


class QuorumUpdateIn(QuorumParametersIn):
    reason: str


class QuorumOut(Schema):
    id: int
    name: str
    description: str
    paused: bool
    committee_size: int
    threshold_bps: int
    min_participation_bps: int
    slash_equivocation_bps: int
    slash_minority_bps: int
    slash_absence_bps: int
    min_bond: int
    round_duration: int
    unbond_delay: int
    appeal_window: int = 0
    appeal_bond: int = 0
    appeal_bond_asset: str = "CREDIT"
    appeal_bounty_bps: int = 0
    appeal_fee_bps: int = 0
    score_low_bps: int = 0
    score_weights: dict[str, int] = {}
    score_minimums: dict[str, int] = {}
    audit_entry: int | None = None
    anchor_leaf_id: int | None = None


class AppealIn(Schema):
    reason: str  # why the decision is wrong, 1–2000 characters


class AppealOut(Schema):
    """An appeal of a round's decision and, once its panel's round closed, what was decided and
    what moved on the ledger (`outcome`: bond, bounty, slashes, fees)."""

    id: int
    round: int
    appeal_round: int
    level: int
    appellant: str
    reason: str
    bond: Amount
    bond_asset: str
    state: str
    outcome: dict[str, Any]
    anchor_leaf_id: int | None
    created_at: datetime
    decided_at: datetime | None


class ReasonIn(Schema):
    reason: Annotated[str, Field(max_length=2000)]


class PauseIn(ReasonIn):
    paused: Annotated[bool, Field(strict=True)]


class ValidatorStateIn(ReasonIn):
    state: Annotated[str, Field(pattern="^(jailed|active|removed)$")]


class ValidatorModerationOut(Schema):
    id: int
    quorum: int
    address: str
    state: str


class CaseOpenIn(Schema):
    allegation: Annotated[str, Field(max_length=2000)]
    round: int | None = None


class CaseDecisionIn(ReasonIn):
    slash: Annotated[bool, Field(strict=True)]
    rate_bps: Annotated[int, Field(ge=0, le=10_000)] = 0
    jail: Annotated[bool, Field(strict=True)] = False


class CaseOut(Schema):
    id: int
    validator: int
    round: int | None
    state: str
    allegation: str
    decision: str
    rate_bps: int
