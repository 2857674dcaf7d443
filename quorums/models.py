"""Quorums, bonded validators, validation rounds, signed verdicts, slashes, moderation records.

Amounts are LAZ in the smallest unit (NUMERIC(78,0), like the ledger). Rates and thresholds are
basis points (1/10,000). Rounds know their subject only as (kind, opaque ref, content hash)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from ledger.models import AMOUNT  # one definition of a token amount column (uint256 range)


def default_score_weights() -> dict[str, int]:
    """LazAI's DQS intent (0.2 duplication, 0.3 accuracy, 0.5 context alignment): uniqueness 20%,
    authenticity 30%, quality 50%; ownership is a gate (its minimum), not a weight."""
    return {"authenticity": 3000, "ownership": 0, "quality": 5000, "uniqueness": 2000}


def default_score_minimums() -> dict[str, int]:
    return {"authenticity": 5000, "ownership": 5000, "quality": 0, "uniqueness": 0, "composite": 0}


class Quorum(models.Model):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    min_bond = models.DecimalField(default=1, **AMOUNT)
    threshold_bps = models.PositiveIntegerField(default=6667, help_text="Share of committee stake that decides.")
    min_participation_bps = models.PositiveIntegerField(default=5000)
    round_duration = models.DurationField(default=timedelta(hours=24))
    committee_size = models.PositiveIntegerField(default=3)
    slash_equivocation_bps = models.PositiveIntegerField(default=5000)
    slash_minority_bps = models.PositiveIntegerField(default=500)
    slash_absence_bps = models.PositiveIntegerField(default=100)
    unbond_delay = models.DurationField(default=timedelta(days=7))
    # The composite score: weights per criterion in basis points (summing to 10000) and the
    # minimum score per criterion (and "composite") an accepted subject must reach (scores.py).
    score_weights = models.JSONField(default=default_score_weights, blank=True)
    score_minimums = models.JSONField(default=default_score_minimums, blank=True)
    # Appeals (quorums.services.appeals): the window after a round's close (database time), the
    # bond and its asset, the share of the slashes paid to a successful appellant as a bounty, the
    # share of an upheld appeal's bond paid to the panel, and the composite score below which an
    # accepted subject may be appealed (re-scored).
    appeal_window = models.DurationField(default=timedelta(days=3))
    appeal_bond = models.DecimalField(default=100, **AMOUNT)
    appeal_bond_asset = models.CharField(max_length=8, default="CREDIT", choices=[("CREDIT", "CREDIT"), ("LAZ", "LAZ")])
    appeal_bounty_bps = models.PositiveIntegerField(default=5000)
    appeal_fee_bps = models.PositiveIntegerField(default=0)
    score_low_bps = models.PositiveIntegerField(default=5000)
    paused = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold_bps__gt=5000) & Q(threshold_bps__lte=10000), name="quorum_threshold_majority"
            ),
            models.CheckConstraint(condition=Q(min_participation_bps__lte=10000), name="quorum_participation_bps"),
            models.CheckConstraint(
                condition=Q(slash_equivocation_bps__lte=10000)
                & Q(slash_minority_bps__lte=10000)
                & Q(slash_absence_bps__lte=10000),
                name="quorum_slash_bps",
            ),
            models.CheckConstraint(condition=Q(committee_size__gte=1), name="quorum_committee_size"),
            models.CheckConstraint(condition=Q(min_bond__gte=1), name="quorum_min_bond_positive"),
        ]

    def __str__(self) -> str:
        return self.name


# The quorum parameters that decide a round, snapshotted on the round when it opens.
QUORUM_RULES = (
    "threshold_bps",
    "min_participation_bps",
    "slash_equivocation_bps",
    "slash_minority_bps",
    "slash_absence_bps",
    "committee_size",
)


class ValidatorState(models.TextChoices):
    ACTIVE = "active", "Active"
    JAILED = "jailed", "Jailed"
    REMOVED = "removed", "Removed"


class Validator(models.Model):
    """A bonded validator of one quorum. `stake` is what sits in the quorum's escrow for them,
    less any pending unbonding (which no longer counts for committees)."""

    quorum = models.ForeignKey(Quorum, on_delete=models.PROTECT, related_name="validators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="validator_seats")
    address = models.CharField(max_length=42)
    stake = models.DecimalField(default=0, **AMOUNT)
    state = models.CharField(max_length=10, choices=ValidatorState.choices, default=ValidatorState.ACTIVE)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["quorum", "user"], name="validator_one_per_quorum_user"),
            models.CheckConstraint(condition=Q(stake__gte=0), name="validator_stake_not_negative"),
        ]
        indexes = [models.Index(fields=["quorum", "state"])]

    def __str__(self) -> str:
        return f"{self.address} in {self.quorum}"


class Bond(models.Model):
    """One bonding or unbonding event; its id keys the ledger transfer. An unbond moves LAZ back
    from escrow only once `available_at` (database time) has passed, minus what slashes took from
    it meanwhile (`slashed`): unbonding stake stays slashable until it is released."""

    class Kind(models.TextChoices):
        BOND = "bond"
        UNBOND = "unbond"

    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="bonds")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(auto_now_add=True)
    available_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    slashed = models.DecimalField(default=0, **AMOUNT)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bond_amount_positive"),
            models.CheckConstraint(condition=Q(slashed__gte=0, slashed__lte=F("amount")), name="bond_slashed_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.validator_id})"


class QuorumTrust(models.Model):
    """An iDAO trusts a quorum to validate its contributions (set by a passed governance action)."""

    idao = models.ForeignKey("idaos.IDAO", on_delete=models.CASCADE, related_name="quorum_trusts")
    quorum = models.ForeignKey(Quorum, on_delete=models.CASCADE, related_name="trusts")
    active = models.BooleanField(default=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idao", "quorum"], name="quorum_trust_unique")]

    def __str__(self) -> str:
        return f"iDAO {self.idao_id} trusts quorum {self.quorum_id}: {self.active}"


class RoundState(models.TextChoices):
    # With a public chain configured (QUORUM_SEED_CHAIN_ID) a round waits here, candidates fixed
    # and anchored, until the first chain block after its opening exists; then its committee is drawn.
    DRAWING = "drawing", "Drawing"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Round(models.Model):
    quorum = models.ForeignKey(Quorum, on_delete=models.PROTECT, related_name="rounds")
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="validation_rounds")
    subject_kind = models.CharField(max_length=40)
    subject_ref = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=66, help_text="0x + SHA-256 of the subject's bytes.")
    attempt = models.PositiveIntegerField(default=1)
    seed = models.CharField(max_length=66, help_text="keccak seed the committee was drawn from.")
    candidates = models.JSONField(default=list, help_text="[[validator id, address, stake], …] the draw saw.")
    # The seed's public inputs besides quorum, round, content hash and attempt (quorums.consensus.round_seed).
    seed_block_height = models.BigIntegerField(
        null=True, blank=True, help_text="Latest sealed ledger block at opening."
    )
    seed_block_hash = models.CharField(max_length=66, blank=True)
    # The public-chain block mixed into the seed (QUORUM_SEED_CHAIN_ID): the first block of that
    # chain whose timestamp is after the opening second; nobody here controls its hash.
    beacon_chain_id = models.BigIntegerField(null=True, blank=True)
    beacon_block_number = models.BigIntegerField(null=True, blank=True)
    beacon_block_hash = models.CharField(max_length=66, blank=True)
    beacon_block_timestamp = models.BigIntegerField(null=True, blank=True)
    draw_anchor_leaf_id = models.BigIntegerField(null=True, blank=True, help_text="The anchored draw record.")
    draw_note = models.CharField(max_length=300, blank=True, help_text="Why a drawing round still waits.")
    open_anchor_leaf_id = models.BigIntegerField(null=True, blank=True, help_text="The anchored open record.")
    state = models.CharField(max_length=8, choices=RoundState.choices, default=RoundState.OPEN)
    outcome = models.CharField(max_length=14, choices=Outcome.choices, blank=True)
    close_reason = models.CharField(max_length=20, blank=True)
    opened_at = models.DateTimeField()
    deadline = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    verdicts_digest = models.CharField(max_length=66, blank=True)
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True)
    tally = models.JSONField(default=dict, blank=True)
    # The round's score: the stake-weighted median of the committee's score vectors per criterion,
    # and the composite by the quorum's weights ({} when no verdict carried scores).
    scores = models.JSONField(default=dict, blank=True)
    params = models.JSONField(
        default=dict, blank=True, help_text="The quorum's rules when this round opened (QUORUM_RULES); they decide it."
    )
    # An appeal round re-decides `appeal_of` (level 1 or 2; 0 for a first round).
    appeal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    appeal_level = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_kind", "subject_ref", "attempt"], name="round_one_per_subject_attempt"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["drawing", "open"], outcome="") | Q(state="closed") & ~Q(outcome=""),
                name="round_outcome_iff_closed",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"]), models.Index(fields=["quorum", "state"])]

    def __str__(self) -> str:
        return f"Round {self.pk}"

    def rule(self, name: str) -> int:
        """A rule this round is decided by: as snapshotted at opening (a later change of the
        quorum's parameters does not reach it); rounds opened before snapshots read the quorum."""
        return int(self.params[name]) if name in self.params else int(getattr(self.quorum, name))


class Seat(models.Model):
    """A committee member of a round, with the stake snapshot that weighs their verdict."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="seats")
    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="seats")
    address = models.CharField(max_length=42)
    stake = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "validator"], name="seat_unique")]

    def __str__(self) -> str:
        return f"{self.address} on round {self.round_id}"


class Verdict(models.Model):
    """A signed verdict exactly as signed: the typed-data message fields plus the signature."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="verdicts")
    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="verdicts")
    verdict = models.CharField(max_length=8)
    reason = models.CharField(max_length=500, blank=True)
    # A ScoredVerdict (EIP-712 version 2): {criterion: basis points} and the signed evidence
    # (JSON of the node's check codes and figures); None and "" for a version 1 Verdict.
    scores = models.JSONField(null=True, blank=True)
    evidence = models.TextField(blank=True, max_length=4000)
    # 65 bytes for an EOA; a contract wallet's signature can be longer (ERC-6492 wraps it).
    signature = models.TextField()
    digest = models.CharField(max_length=66)
    automated = models.BooleanField(default=False)
    # How the signature was verified (portal.signatures.verify): eoa, erc1271 or erc6492, on the
    # portal's chain; the block is the one a contract check ran at (None for EOAs).
    verified_by = models.CharField(max_length=16, default="eoa")
    verified_chain_id = models.BigIntegerField(null=True, blank=True)
    verified_block = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["round", "validator", "digest"], name="verdict_unique_digest")]

    def __str__(self) -> str:
        return f"{self.verdict} by validator {self.validator_id} on round {self.round_id}"


class Equivocation(models.Model):
    """Two different valid signed verdicts from one validator in one round: the evidence."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="equivocations")
    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="equivocations")
    first = models.ForeignKey(Verdict, on_delete=models.PROTECT, related_name="+")
    second = models.ForeignKey(Verdict, on_delete=models.PROTECT, related_name="+")
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "validator"], name="equivocation_once_per_round")]

    def __str__(self) -> str:
        return f"equivocation by validator {self.validator_id} in round {self.round_id}"


class SlashReason(models.TextChoices):
    EQUIVOCATION = "equivocation"
    MINORITY = "minority"
    ABSENCE = "absence"
    FRAUD = "fraud"
    OVERTURNED = "overturned"  # signed an objectively wrong side an appeal overturned


class Slash(models.Model):
    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="slashes")
    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.PROTECT, related_name="slashes")
    reason = models.CharField(max_length=14, choices=SlashReason.choices)
    amount = models.DecimalField(**AMOUNT)
    destination = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.reason} slash of {self.amount} ({self.validator_id})"


class FraudCase(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        SLASHED = "slashed"
        DISMISSED = "dismissed"

    validator = models.ForeignKey(Validator, on_delete=models.PROTECT, related_name="fraud_cases")
    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.PROTECT, related_name="fraud_cases")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    allegation = models.TextField(max_length=2000)
    rate_bps = models.PositiveIntegerField(default=0)
    decision = models.TextField(blank=True, max_length=2000)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"fraud case {self.pk} ({self.state})"


class Appeal(models.Model):
    """The contributor's appeal of a closed round's decision, with a bond in escrow
    (`escrow:appeal:<id>`), decided by a larger panel drawn disjoint from every earlier round of
    the subject (`appeal_round`). At most two levels; one appeal per decision."""

    class State(models.TextChoices):
        OPEN = "open"
        OVERTURNED = "overturned"
        UPHELD = "upheld"
        VOID = "void"  # the panel could not decide: the bond goes back

    round = models.OneToOneField(Round, on_delete=models.PROTECT, related_name="appeal")
    appeal_round = models.OneToOneField(Round, on_delete=models.PROTECT, related_name="appealed_by")
    level = models.PositiveSmallIntegerField()
    appellant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=42)
    reason = models.TextField(max_length=2000)
    bond = models.DecimalField(**AMOUNT)
    bond_asset = models.CharField(max_length=8)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    outcome = models.JSONField(default=dict, blank=True, help_text="What moved: bond, bounty, slashes, fees.")
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=2), name="appeal_level_1_or_2"),
        ]

    def __str__(self) -> str:
        return f"appeal {self.pk} of round {self.round_id} ({self.state})"

    @property
    def escrow_owner(self) -> str:
        return f"escrow:appeal:{self.pk}"


class AuditEntry(models.Model):
    """Every staff action, with its written reason; anchored on the ledger in the same transaction."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=120)
    reason = models.TextField(max_length=2000)
    details = models.JSONField(default=dict, blank=True)
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
