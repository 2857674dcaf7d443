"""iDAOs, their members and charters, the AI assets they govern, proposals and signed ballots."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ledger.models import AMOUNT  # one definition of a token amount column (uint256 range)

# LAZ amounts and voting weights are integers in the smallest unit; 78 digits hold any uint256.


class Domain(models.TextChoices):
    HEALTHCARE = "healthcare", "Healthcare"
    LAW = "law", "Law"
    SCIENCE = "science", "Science"
    CREATIVE_MEDIA = "creative_media", "Creative media"
    FINANCE = "finance", "Finance"
    EDUCATION = "education", "Education"
    OTHER = "other", "Other"


class VotingRule(models.TextChoices):
    ONE_MEMBER_ONE_VOTE = "one_member_one_vote", "One member, one vote"
    STAKE_WEIGHTED = "stake_weighted", "Stake-weighted (LAZ)"
    QUADRATIC = "quadratic", "Quadratic (square root of LAZ)"


class MembershipPolicy(models.TextChoices):
    OPEN = "open", "Open: anyone may join"
    APPROVAL = "approval", "By steward approval"


def default_steward_spend_limit() -> dict[str, str]:
    """Stewards grant CREDIT as before (no limit) and no LAZ without a treasury proposal."""
    return {"LAZ": "0"}


class IDAO(models.Model):
    """An iDAO and its charter. The charter fields are changed only by a passed `change_charter`
    proposal (or at creation)."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    domain = models.CharField(max_length=20, choices=Domain.choices)
    description = models.TextField(blank=True, max_length=5000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="founded_idaos")
    created_at = models.DateTimeField(default=timezone.now)

    # Charter
    voting_rule = models.CharField(max_length=24, choices=VotingRule.choices, default=VotingRule.ONE_MEMBER_ONE_VOTE)
    voting_period = models.DurationField(default=timedelta(days=3))
    voting_delay = models.DurationField(default=timedelta(0))
    quorum_bps = models.PositiveIntegerField(default=2000, help_text="Share of eligible voting power that must vote.")
    approval_threshold_bps = models.PositiveIntegerField(
        default=5000, help_text="Share of for/(for+against) needed to pass; reaching it exactly passes."
    )
    proposal_min_membership_age = models.DurationField(default=timedelta(0))
    proposal_min_stake = models.DecimalField(**AMOUNT, default=0)
    membership_policy = models.CharField(max_length=10, choices=MembershipPolicy.choices, default=MembershipPolicy.OPEN)
    split_contributors_bps = models.PositiveIntegerField(default=7000)
    split_treasury_bps = models.PositiveIntegerField(default=2000)
    split_validators_bps = models.PositiveIntegerField(default=1000)
    # Under one_member_one_vote, the most delegated votes one delegate carries, as a share of the
    # members at the snapshot (the surplus stays with the delegators); other rules are not capped.
    delegation_cap_bps = models.PositiveIntegerField(default=500)
    # Treasury (idaos.treasury): how long a passed treasury proposal waits before it moves money,
    # whether stewards may veto it meanwhile, and what stewards may grant alone per asset and epoch
    # ({"LAZ": "0"}: an asset absent from the map is not limited).
    execution_delay = models.DurationField(default=timedelta(days=1))
    guardian_veto = models.BooleanField(default=False)
    steward_spend_limit = models.JSONField(default=default_steward_spend_limit)
    # How the epoch's contributor share is split among DATs: by usage, or by usage weighted by
    # each DAT's validation score (docs/rewards.md).
    reward_weighting = models.CharField(
        max_length=16, choices=[("usage", "usage"), ("usage_x_score", "usage × score")], default="usage"
    )

    class Meta:
        verbose_name = "iDAO"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(split_contributors_bps__lte=10000)
                & Q(split_treasury_bps__lte=10000)
                & Q(split_validators_bps__lte=10000)
                & Q(split_contributors_bps=10000 - models.F("split_treasury_bps") - models.F("split_validators_bps")),
                name="idao_reward_split_sums_to_10000",
            ),
            models.CheckConstraint(condition=Q(quorum_bps__lte=10000), name="idao_quorum_bps_range"),
            models.CheckConstraint(
                condition=Q(approval_threshold_bps__gte=1) & Q(approval_threshold_bps__lte=10000),
                name="idao_threshold_bps_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def treasury_owner(self) -> str:
        from ledger import owners  # ledger is upstream; imported lazily so migrations never need it

        return owners.idao(self.slug)

    CHARTER_FIELDS = (
        "voting_rule",
        "voting_period",
        "voting_delay",
        "quorum_bps",
        "approval_threshold_bps",
        "proposal_min_membership_age",
        "proposal_min_stake",
        "membership_policy",
        "split_contributors_bps",
        "split_treasury_bps",
        "split_validators_bps",
        "delegation_cap_bps",
        "execution_delay",
        "guardian_veto",
        "steward_spend_limit",
        "reward_weighting",
    )


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    STEWARD = "steward", "Steward"


class MembershipStatus(models.TextChoices):
    PENDING = "pending", "Requested"
    ACTIVE = "active", "Active"
    LEFT = "left", "Left"
    DENIED = "denied", "Denied"


class Membership(models.Model):
    """A person's membership of an iDAO. Past (left/denied) rows are kept as history; at most one
    pending or active row exists per (iDAO, user)."""

    idao = models.ForeignKey(IDAO, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=10, choices=MembershipStatus.choices, default=MembershipStatus.ACTIVE)
    requested_at = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["idao", "user"],
                condition=Q(status__in=["pending", "active"]),
                name="membership_one_open_per_idao_user",
            ),
        ]
        indexes = [models.Index(fields=["idao", "status"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.idao} ({self.status})"


class AIModel(models.Model):
    idao = models.ForeignKey(IDAO, on_delete=models.CASCADE, related_name="ai_models")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=5000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idao", "name"], name="aimodel_unique_name_per_idao")]

    def __str__(self) -> str:
        return self.name

    @property
    def current_version(self) -> ModelVersion | None:
        return self.versions.filter(current=True).first()


class ModelVersion(models.Model):
    """One version of a model, identified by the hash of its artifact, with its training manifest."""

    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    artifact_hash = models.CharField(max_length=66)
    created_at = models.DateTimeField(default=timezone.now)
    current = models.BooleanField(default=False)
    approved_by_proposal = models.ForeignKey(
        "Proposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="modelversion_unique_number"),
            models.UniqueConstraint(fields=["model"], condition=Q(current=True), name="modelversion_one_current"),
        ]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"


class ManifestEntry(models.Model):
    """A data reference a model version is approved to learn from: a content hash `0x…` or,
    once DATs exist, `dat:<token id>`."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="manifest")
    data_ref = models.CharField(max_length=120)
    added_by_proposal = models.ForeignKey(
        "Proposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "data_ref"], name="manifest_unique_ref_per_version"),
        ]

    def __str__(self) -> str:
        return self.data_ref


class Agent(models.Model):
    idao = models.ForeignKey(IDAO, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=5000)
    behaviour_policy = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idao", "name"], name="agent_unique_name_per_idao")]

    def __str__(self) -> str:
        return self.name


class AgentVersion(models.Model):
    """Every behaviour policy an agent has had; the agent row holds the current one."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    behaviour_policy = models.JSONField(default=dict)
    artifact_hash = models.CharField(max_length=66, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    approved_by_proposal = models.ForeignKey(
        "Proposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="agentversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.agent} v{self.number}"


class ProposalKind(models.TextChoices):
    INCLUDE_DATA = "include_data", "Include data in a training manifest"
    REMOVE_DATA = "remove_data", "Remove data from a training manifest"
    APPROVE_MODEL_UPDATE = "approve_model_update", "Approve a model update"
    CHANGE_AGENT_POLICY = "change_agent_policy", "Change an agent's behaviour policy"
    TRUST_QUORUM = "trust_quorum", "Trust a validation quorum"
    DROP_QUORUM = "drop_quorum", "Drop a validation quorum"
    CHANGE_CHARTER = "change_charter", "Change the charter"
    SIGNAL = "signal", "Signal (no action)"


class ProposalState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Submitted, voting not yet open"
    ACTIVE = "active", "Voting"
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"
    QUORUM_NOT_MET = "quorum_not_met", "Quorum not met"
    EXECUTED = "executed", "Executed"
    EXECUTION_FAILED = "execution_failed", "Execution failed"
    CANCELLED = "cancelled", "Cancelled"


class Proposal(models.Model):
    idao = models.ForeignKey(IDAO, on_delete=models.CASCADE, related_name="proposals")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20000)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=20, choices=ProposalState.choices, default=ProposalState.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    voting_starts_at = models.DateTimeField(null=True, blank=True)
    voting_ends_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    # The rule the vote runs under, fixed at activation so a charter change cannot move it.
    voting_rule = models.CharField(max_length=24, choices=VotingRule.choices, blank=True)
    quorum_bps = models.PositiveIntegerField(null=True, blank=True)
    approval_threshold_bps = models.PositiveIntegerField(null=True, blank=True)
    eligible_power = models.DecimalField(**AMOUNT, default=0)
    # The most delegated weight one delegate carries in this proposal (None: no cap), fixed at activation.
    delegation_cap = models.DecimalField(**AMOUNT, null=True, blank=True)
    tally = models.JSONField(default=dict, blank=True)
    ballots_root = models.CharField(max_length=66, blank=True)
    result_leaf_id = models.BigIntegerField(null=True, blank=True)
    execution_leaf_id = models.BigIntegerField(null=True, blank=True)
    execution_result = models.JSONField(default=dict, blank=True)
    execution_error = models.TextField(blank=True)
    # A passed treasury proposal waits in the timelock until then (idaos.treasury); None: executed at close.
    execute_after = models.DateTimeField(null=True, blank=True)
    vetoed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    veto_reason = models.TextField(blank=True)
    veto_leaf_id = models.BigIntegerField(null=True, blank=True)
    discussion_url = models.URLField(blank=True, max_length=500)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "voting_starts_at"]),
            models.Index(fields=["state", "voting_ends_at"]),
            models.Index(fields=["idao", "state"]),
            models.Index(fields=["author", "state"]),
            models.Index(fields=["execute_after"], condition=Q(state="passed"), name="proposal_timelocked"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class VotingPower(models.Model):
    """The snapshot taken at activation: who may vote on a proposal and with what weight."""

    # The unique (proposal, voter) index serves lookups by proposal too.
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="voting_powers", db_index=False)
    voter = models.CharField(max_length=42)
    weight = models.DecimalField(**AMOUNT)
    balance = models.DecimalField(**AMOUNT, default=0)
    # Delegation (idaos.delegation): `weight` stays the voter's own (what the rule gives for the
    # balance). `delegated` is the weight others delegated to this voter, `delegated_from` who
    # ([{from, via, amount}]); `delegated_out` what this voter delegated away, `flows` where
    # ([{via, amount}]). The tally gives a flow to the first voter along [from, *via].
    delegated = models.DecimalField(**AMOUNT, default=0)
    delegated_from = models.JSONField(default=list, blank=True)
    delegated_out = models.DecimalField(**AMOUNT, default=0)
    flows = models.JSONField(default=list, blank=True)
    # The signed delegation of this voter that applied at the snapshot (most specific scope).
    delegation = models.ForeignKey(
        "Delegation", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["proposal", "voter"], name="votingpower_unique_voter")]
        indexes = [models.Index(fields=["proposal"], condition=Q(delegated_out__gt=0), name="votingpower_delegating")]

    def __str__(self) -> str:
        return f"{self.voter}: {self.weight}"


class Choice(models.TextChoices):
    FOR = "for", "For"
    AGAINST = "against", "Against"
    ABSTAIN = "abstain", "Abstain"
    # A signal with several options: the chosen options (or ranking) are the signed message's
    # `options` (an OptionBallot, docs/governance.md "Signals with several options").
    OPTIONS = "options", "Options"


class Ballot(models.Model):
    """Every accepted signed ballot, kept as a receipt. `counted` marks the one ballot per voter
    that the tally uses (the one with the latest timestamp)."""

    # Indexes that start with the proposal serve it; fewer indexes keep each ballot insert cheap.
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="ballots", db_index=False)
    voter = models.CharField(max_length=42)
    choice = models.CharField(max_length=10, choices=Choice.choices)
    reason = models.TextField(blank=True)
    timestamp = models.BigIntegerField()
    weight = models.DecimalField(**AMOUNT)
    message = models.JSONField()
    # 65 bytes for an EOA; a contract wallet's signature can be longer (an ERC-6492 wrapper
    # carries the factory calldata) or empty ("0x": a Safe that approves on chain).
    signature = models.TextField()
    digest = models.CharField(max_length=66)
    received_at = models.DateTimeField(default=timezone.now)
    counted = models.BooleanField(default=True)
    # How the signature was verified (portal.signatures.verify): eoa, erc1271 or erc6492; or
    # `pending`, a contract wallet that has not approved the digest yet (counted once it does,
    # never after the proposal closes). The chain is PORTAL_CHAIN_ID at the time; the block is
    # the one a contract check ran at (None for EOAs and pending ballots).
    verified_by = models.CharField(max_length=16, default="eoa")
    verified_chain_id = models.BigIntegerField(null=True, blank=True)
    verified_block = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "digest"], name="ballot_unique_digest"),
            models.UniqueConstraint(
                fields=["proposal", "voter"], condition=Q(counted=True), name="ballot_one_counted_per_voter"
            ),
        ]
        # Only pending ballots are in it (the beat task's worklist), so an EOA ballot's insert
        # does not touch it.
        indexes = [models.Index(fields=["proposal"], condition=Q(verified_by="pending"), name="ballot_pending")]

    def __str__(self) -> str:
        return f"{self.voter} {self.choice} on #{self.proposal_id}"


class Delegation(models.Model):
    """A signed, gasless delegation: `delegator` lends shares of their voting power in `scope`
    (`idao:<slug>`, `domain:<domain>` or `global`) until `expires_at`. The signed EIP-712 message
    and its signature are kept as the receipt; a revocation (also signed) or a newer delegation
    for the same scope ends it (`ended_at`). Addresses are EIP-55."""

    delegator = models.CharField(max_length=42)
    scope = models.CharField(max_length=80)
    expires_at = models.DateTimeField()
    nonce = models.BigIntegerField()
    message = models.JSONField()
    signature = models.TextField()
    digest = models.CharField(max_length=66, unique=True)
    verified_by = models.CharField(max_length=16, default="eoa")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The signed Revocation that ended it, when one did (a newer delegation leaves these empty).
    revocation_message = models.JSONField(null=True, blank=True)
    revocation_signature = models.TextField(blank=True)
    revocation_digest = models.CharField(max_length=66, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["delegator", "nonce"], name="delegation_unique_nonce"),
            models.UniqueConstraint(
                fields=["delegator", "scope"], condition=Q(ended_at__isnull=True), name="delegation_one_live_per_scope"
            ),
        ]
        indexes = [models.Index(fields=["scope"], condition=Q(ended_at__isnull=True), name="delegation_live_scope")]

    def __str__(self) -> str:
        return f"{self.delegator} in {self.scope} (nonce {self.nonce})"


class DelegationShare(models.Model):
    """One delegate's share of a delegation, in basis points (the shares of a delegation sum to
    at most 10000; the rest stays with the delegator)."""

    delegation = models.ForeignKey(Delegation, on_delete=models.CASCADE, related_name="shares")
    delegate = models.CharField(max_length=42, db_index=True)
    bps = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delegation", "delegate"], name="delegationshare_unique_delegate"),
            models.CheckConstraint(condition=Q(bps__gte=1, bps__lte=10000), name="delegationshare_bps_range"),
        ]

    def __str__(self) -> str:
        return f"{self.delegate}: {self.bps} bps"


class DelegationNonce(models.Model):
    """The next nonce a delegator's Delegation or Revocation must carry (claimed by a conditional
    UPDATE, so two messages with the same nonce cannot both be accepted)."""

    delegator = models.CharField(max_length=42, unique=True)
    next = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.delegator}: next nonce {self.next}"


class DelegateStatement(models.Model):
    """What a delegate publishes on their profile for people deciding whom to trust."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegate_statement")
    text = models.TextField(max_length=5000)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"statement of user {self.user_id}"


from .models_treasury import ProposalComment, StreamPayment, TreasuryStream  # noqa: E402, F401
