"""The governance API's JSON shapes, shared by the operations and the `.json` page aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import BaseModel, model_validator

from portal.schemas import Amount, Bps, NonNegativeInt64, Offset

Slug = Annotated[str, Field(min_length=1, max_length=60)]
ProposalsLimit = Annotated[int, Field(ge=1, le=200)]


class IdaosQuery(Schema):
    q: Annotated[str, Field(max_length=100)] = ""
    domain: Annotated[str, Field(max_length=20)] = ""
    limit: ProposalsLimit = 50
    offset: Offset = 0


class ProposalsQuery(Schema):
    state: Annotated[str, Field(max_length=20)] = ""
    limit: ProposalsLimit = 50
    offset: Offset = 0


class IdaoIn(Schema):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=120)]
    domain: Annotated[str, Field(min_length=1, max_length=20)]
    description: Annotated[str, Field(max_length=5000)] = ""
    voting_rule: Annotated[str, Field(max_length=24)] | None = None
    voting_period_seconds: NonNegativeInt64 | None = None
    voting_delay_seconds: NonNegativeInt64 | None = None
    quorum_bps: Bps | None = None
    approval_threshold_bps: Bps | None = None
    proposal_min_membership_age_seconds: NonNegativeInt64 | None = None
    proposal_min_stake: Amount | None = None
    membership_policy: Annotated[str, Field(max_length=10)] | None = None
    split_contributors_bps: Bps | None = None
    split_treasury_bps: Bps | None = None
    split_validators_bps: Bps | None = None

    def charter(self) -> dict[str, Any]:
        renames = {
            "voting_period_seconds": "voting_period",
            "voting_delay_seconds": "voting_delay",
            "proposal_min_membership_age_seconds": "proposal_min_membership_age",
        }
        out = {}
        for name, value in self.dict(exclude={"slug", "name", "domain", "description"}).items():
            if value is not None:
                out[renames.get(name, name)] = value
        return out


class ProposalIn(Schema):
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    title: Annotated[str, Field(max_length=200)]
    description: Annotated[str, Field(max_length=20000)] = ""
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            'The action\'s payload for its kind (docs/governance.md "Proposal payloads"). A signal takes {} '
            '(for, against, abstain) or {"options": [2 to 10 labels], "method": "single" | "approval" | "ranked"}.'
        ),
    )
    submit: Annotated[bool, Field(strict=True)] = True


# A plain pydantic model, not a django-ninja Schema: Schema wraps every input in a getter for ORM
# objects, which a JSON body never is, on the hottest operation (the OpenAPI description is the same).
class VoteIn(BaseModel):
    """The signed ballot; its parts are checked by the ballot rules (idaos.services.ballots),
    which name each problem with its own code."""

    message: Any = None
    signature: Any = None
    domain: Any = None
    types: Any = None
    primaryType: Any = None

    @model_validator(mode="before")
    @classmethod
    def _fields_of_an_object(cls, data: Any) -> Any:
        # A body that is not an object has none of the fields, as Schema's getter read it: the
        # ballot rules then refuse it as malformed_ballot (not invalid_input).
        return data if isinstance(data, dict) else {}


class CharterOut(Schema):
    voting_rule: str
    voting_period_seconds: int
    voting_delay_seconds: int
    quorum_bps: int
    approval_threshold_bps: int
    proposal_min_membership_age_seconds: int
    proposal_min_stake: str
    membership_policy: str
    split_contributors_bps: int
    split_treasury_bps: int
    split_validators_bps: int
    execution_delay_seconds: int = 0
    guardian_veto: bool = False
    steward_spend_limit: dict[str, str] = Field(default_factory=dict)


class IdaoOut(Schema):
    slug: str
    name: str
    domain: str
    description: str
    created_by: str
    created_at: str
    member_count: int
    treasury_owner: str
    charter: CharterOut


class IdaoListOut(Schema):
    items: list[IdaoOut]


class MembershipOut(Schema):
    id: int
    idao: str
    address: str
    role: str
    status: str
    joined_at: str | None


class MembershipListOut(Schema):
    items: list[MembershipOut]


class MembershipsQuery(Schema):
    status: Annotated[str, Field(pattern="^(|pending|active)$")] = ""


class LeaveIn(Schema):
    confirm: Annotated[bool, Field(strict=True)]


class DecisionIn(Schema):
    approve: Annotated[bool, Field(strict=True)]


class RoleIn(Schema):
    role: Annotated[str, Field(pattern="^(member|steward)$")]


Hash = Annotated[str, Field(max_length=66)]


class ModelIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=5000)] = ""
    artifact_hash: Hash
    manifest: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=200)] = Field(default_factory=list)


class ModelOut(Schema):
    id: int
    idao: str
    name: str
    description: str
    current_version: int
    artifact_hash: str
    manifest: list[str]


class AgentIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=5000)] = ""
    behaviour_policy: dict[str, Any] = Field(default_factory=dict)
    artifact_hash: Hash = ""


class AgentVersionOut(Schema):
    number: int
    behaviour_policy: dict[str, Any]
    artifact_hash: str
    created_at: str
    approved_by_proposal: int | None


class AgentOut(Schema):
    id: int
    idao: str
    name: str
    description: str
    behaviour_policy: dict[str, Any]
    current_version: int | None
    artifact_hash: str
    versions: list[AgentVersionOut]


class ProposalOut(Schema):
    id: int
    idao: str
    author: str
    kind: str
    title: str
    description: str
    payload: dict[str, Any]
    state: str
    created_at: str | None
    submitted_at: str | None
    voting_starts_at: str | None
    voting_ends_at: str | None
    closed_at: str | None
    voting_rule: str | None
    ballots_root: str | None
    result_leaf_id: int | None
    execution_leaf_id: int | None
    execution_error: str | None
    execute_after: str | None = None
    discussion_url: str | None = None
    comment_count: int | None = None
    tally: dict[str, Any] | None = None


class ProposalListOut(Schema):
    items: list[ProposalOut]


class BallotOut(Schema):
    id: int
    proposal: int
    voter: str
    choice: str
    # An OptionBallot's options (indices into the proposal's options, as signed); null for a Ballot.
    options: list[int] | None = None
    reason: str
    timestamp: int
    weight: str
    counted: bool
    digest: str
    signature: str
    message: dict[str, Any]
    received_at: str
    # How the signature was verified (portal.signatures.verify): eoa, erc1271, erc6492, or pending.
    verified_by: str
    verified_chain_id: int | None = None
    verified_block: int | None = None


class VoteOut(Schema):
    ballot: BallotOut
    receipt_url: str


class Eip712Out(Schema):
    domain: dict[str, Any]
    types: dict[str, Any]
    primaryType: str
    message_fields: list[str]
    choices: list[str]
    delegation: dict[str, Any]
    # Type version 2: the OptionBallot, for signals with several options.
    option_ballot: dict[str, Any]
    notes: str


class VotingPowerOut(Schema):
    voter: str
    weight: str
    balance: str


class ProposalExportOut(Schema):
    format: str
    proposal: ProposalOut
    voting_rule: str | None
    quorum_bps: int | None
    approval_threshold_bps: int | None
    eip712: dict[str, Any]
    voting_power: list[VotingPowerOut]
    # The delegation graph the snapshot used (docs/governance.md "Delegation"); absent in old exports.
    delegation: dict[str, Any] | None = None
    ballots: list[BallotOut]
    anchor_status: str
    anchor: dict[str, Any] | None


class DelegationIn(Schema):
    """A signed EIP-712 Delegation or Revocation (see /api/v1/governance/eip712, `delegation`);
    its parts are checked by idaos.services.delegations, which names each problem with its own code."""

    message: Any = None
    signature: Any = None
    domain: Any = None


class DelegationShareOut(Schema):
    delegate: str
    bps: int


class DelegationOut(Schema):
    id: int
    delegator: str
    scope: str
    shares: list[DelegationShareOut]
    expires_at: datetime
    nonce: int
    created_at: datetime
    ended_at: datetime | None
    live: bool
    message: dict[str, Any]
    signature: str
    digest: str
    verified_by: str
    revocation: dict[str, Any] | None


class DelegationListOut(Schema):
    items: list[DelegationOut]


class DelegationNonceOut(Schema):
    address: str
    nonce: int


class StatementIn(Schema):
    """A delegate's statement (at most 5,000 characters; checked by delegate_statement_set)."""

    text: Any = None


class StatementOut(Schema):
    address: str
    text: str
    updated_at: datetime | None
