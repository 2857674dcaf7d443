"""Data Anchoring Tokens: one per accepted validation round, with lineage, a usage policy whose
every change is an anchored event, and access grants paid in CREDIT. Each DAT links to the
contribution (contributions app) whose accepted round minted it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class DatClass(models.TextChoices):
    DATASET = "dataset", "Dataset"
    MODEL = "model", "Model"
    AGENT = "agent", "Agent"


class DAT(models.Model):
    """`id` is the token id. The policy columns hold the current policy; its history is the
    DatEvent log (kind `policy`), the minted policy being version 1."""

    klass = models.CharField(max_length=8, choices=DatClass.choices)
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dats")
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="dats")
    contribution = models.OneToOneField("contributions.Contribution", on_delete=models.PROTECT, related_name="dat")
    # One DAT per round, enforced by the database (a unique index), not only by the minting code.
    round = models.OneToOneField("quorums.Round", on_delete=models.PROTECT, related_name="dat")
    sha256 = models.CharField(max_length=66, db_index=True)
    keccak256 = models.CharField(max_length=66, db_index=True)
    size = models.BigIntegerField()
    parents: models.ManyToManyField[DAT, DatParent] = models.ManyToManyField(
        "self", through="DatParent", symmetrical=False, related_name="children"
    )

    allowed_uses = models.JSONField(default=list)
    price_credit = models.PositiveBigIntegerField(default=0, help_text="CREDIT (smallest unit) per granted use.")
    quota = models.PositiveIntegerField(null=True, blank=True, help_text="Grants allowed in total; empty: no limit.")
    used = models.PositiveIntegerField(default=0, help_text="Grants made so far (counts against the quota).")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    policy_version = models.PositiveIntegerField(default=1)

    anchor_leaf_id = models.BigIntegerField()
    # The validation round's score at mint (quorums.scores: per criterion and "composite", basis
    # points; {} when no verdict carried scores). In the anchored mint record too.
    scores = models.JSONField(default=dict, blank=True)
    # Set while a challenge of this DAT is open (status "contested"): its contributor payouts wait
    # in escrow (`escrow:dat:<id>`) until the challenge ends (dats.services.challenges).
    contested_at = models.DateTimeField(null=True, blank=True)
    minted_at = models.DateTimeField(default=timezone.now)
    # The content's MinHash (dats.minhash; 128 ints) once computed, and its place in the published
    # list (GET /api/v1/minhashes orders by it; assigned from a sequence when the signature is stored).
    minhash = models.JSONField(null=True, blank=True)
    minhash_seq = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-minted_at", "-id"]
        verbose_name = "DAT"
        indexes = [
            # Keyset pagination (minted_at, id) under each explorer filter.
            models.Index(fields=["minted_at", "id"], name="dat_minted"),
            models.Index(fields=["idao", "minted_at", "id"], name="dat_idao_minted"),
            models.Index(fields=["idao", "klass", "minted_at", "id"], name="dat_idao_klass_minted"),
            models.Index(fields=["klass", "minted_at", "id"], name="dat_klass_minted"),
            models.Index(fields=["owner", "minted_at", "id"], name="dat_owner_minted"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=0), name="dat_size_not_negative"),
            models.CheckConstraint(
                condition=Q(quota__isnull=True) | Q(used__lte=F("quota")), name="dat_used_within_quota"
            ),
            models.CheckConstraint(condition=Q(sha256__regex=r"^0x[0-9a-f]{64}$"), name="dat_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"DAT #{self.pk} {self.title}"

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at else "contested" if self.contested_at else "active"

    @property
    def escrow_owner(self) -> str:
        return f"escrow:dat:{self.pk}"

    @property
    def score_bps(self) -> int | None:
        return self.scores.get("composite") if self.scores else None


class DatParent(models.Model):
    """An edge of the lineage graph: `child` was derived from `parent`."""

    child = models.ForeignKey(DAT, on_delete=models.PROTECT, related_name="parent_links")
    parent = models.ForeignKey(DAT, on_delete=models.PROTECT, related_name="child_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="datparent_unique"),
            models.CheckConstraint(condition=~Q(child=F("parent")), name="datparent_not_self"),
        ]
        indexes = [models.Index(fields=["parent", "child"], name="datparent_by_parent")]

    def __str__(self) -> str:
        return f"{self.child_id} <- {self.parent_id}"


class EventKind(models.TextChoices):
    POLICY = "policy", "Policy change"
    TRANSFER = "transfer", "Transfer"
    PARENTS = "parents", "Parents added"


class DatEvent(models.Model):
    """Everything that happened to a DAT after minting, numbered 1, 2, … per DAT (a unique
    constraint serialises concurrent changes) and anchored in the same transaction."""

    dat = models.ForeignKey(DAT, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    payload = models.JSONField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    anchor_leaf_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dat", "seq"]
        constraints = [models.UniqueConstraint(fields=["dat", "seq"], name="datevent_unique_seq")]

    def __str__(self) -> str:
        return f"DAT {self.dat_id} event {self.seq} ({self.kind})"


class AccessGrant(models.Model):
    """A pipeline's paid permission to use a DAT once for one purpose. `idempotency_key` is
    `<token id>:<client key>`: a repeated request returns this grant and moves nothing."""

    dat = models.ForeignKey(DAT, on_delete=models.PROTECT, related_name="grants")
    token = models.ForeignKey(
        "portal.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="dat_grants"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dat_grants")
    payer = models.CharField(max_length=200, help_text="Ledger owner that paid: user:… or idao:….")
    use = models.CharField(max_length=20)
    fee = models.PositiveBigIntegerField(default=0)
    owner_share = models.PositiveBigIntegerField(default=0)
    idao_share = models.PositiveBigIntegerField(default=0)
    ledger_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=240, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["dat", "id"], name="grant_by_dat"),
            models.Index(fields=["user", "dat"], name="grant_by_user"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(fee=F("owner_share") + F("idao_share")), name="grant_fee_split_sums"),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk}: {self.use} of DAT {self.dat_id}"


class PolicyBounds(models.Model):
    """The part of an iDAO's charter that bounds its DATs' usage policies; changed only by a
    passed `dat_policy_bounds` proposal. No row: every use, any price."""

    idao = models.OneToOneField("idaos.IDAO", on_delete=models.CASCADE, related_name="dat_policy_bounds")
    allowed_uses = models.JSONField(default=list, help_text="Uses a DAT of this iDAO may allow.")
    min_price_credit = models.PositiveBigIntegerField(default=0)
    max_price_credit = models.PositiveBigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"DAT policy bounds of iDAO {self.idao_id}"


class DeclaredLineage(models.Model):
    """The DATs a contribution says it was derived from, checked when declared and again when
    its DAT is minted (the parents become DatParent edges)."""

    contribution = models.OneToOneField(
        "contributions.Contribution", on_delete=models.CASCADE, related_name="declared_lineage"
    )
    parent_ids = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"lineage of contribution {self.contribution_id}: {self.parent_ids}"


from .models_erc8028 import Erc8028ClassMirror, Erc8028Mirror  # noqa: E402, F401


class Challenge(models.Model):
    """A challenge of a minted DAT within its window, with a bond in escrow
    (`escrow:challenge:<id>`), decided by a panel round like an appeal (dats.services.challenges).
    At most one open challenge per DAT (a partial unique index)."""

    class Reason(models.TextChoices):
        PLAGIARISM = "plagiarism"
        PERSONAL_DATA = "personal_data"
        LICENCE = "licence"
        DUPLICATE = "duplicate"
        OTHER = "other"

    class State(models.TextChoices):
        OPEN = "open"
        UPHELD = "upheld"
        DISMISSED = "dismissed"
        VOID = "void"

    dat = models.ForeignKey(DAT, on_delete=models.PROTECT, related_name="challenges")
    challenger = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=42)
    reason_code = models.CharField(max_length=16, choices=Reason.choices)
    evidence = models.TextField(max_length=2000)
    duplicate_of = models.CharField(max_length=80, blank=True, help_text="dat:<id> or 0x content hash it duplicates.")
    bond = models.DecimalField(max_digits=78, decimal_places=0)
    bond_asset = models.CharField(max_length=8)
    panel_round = models.OneToOneField("quorums.Round", on_delete=models.PROTECT, related_name="challenge")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    outcome = models.JSONField(default=dict, blank=True)
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["dat"], condition=Q(state="open"), name="challenge_one_open_per_dat")
        ]

    def __str__(self) -> str:
        return f"challenge {self.pk} of DAT #{self.dat_id} ({self.state})"

    @property
    def escrow_owner(self) -> str:
        return f"escrow:challenge:{self.pk}"
