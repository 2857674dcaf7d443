"""Usage events, reward epochs, attributions, payouts and compute-credit grants.

Amounts are integers in the asset's smallest unit (NUMERIC(78,0), like the ledger). DATs are
referred to by token id (`dat_id`): payouts are historical records that outlive any DAT row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ledger.models import AMOUNT  # one definition of a token amount column (uint256 range)


class UsageKind(models.TextChoices):
    INFERENCE = "inference", "Inference"
    TRAINING = "training", "Training"
    FINE_TUNING = "fine_tuning", "Fine-tuning"
    EVALUATION = "evaluation", "Evaluation"


class EpochState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Epoch(models.Model):
    """A reward period [starts_at, ends_at). Usage counts in the epoch during which it is received.
    Closed exactly once: the close claims the row with `UPDATE … WHERE state = 'open'`."""

    number = models.BigIntegerField(unique=True, help_text="starts_at in Unix seconds divided by the length.")
    starts_at = models.DateTimeField(unique=True)
    ends_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=8, choices=EpochState.choices, default=EpochState.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    event_count = models.BigIntegerField(default=0)
    weighted_usage = models.DecimalField(default=0, **AMOUNT)
    pool_laz = models.DecimalField(default=0, **AMOUNT)
    pool_credit = models.DecimalField(default=0, **AMOUNT)
    payout_count = models.IntegerField(default=0)
    payouts_root = models.CharField(max_length=66, blank=True)
    emission_tx_id = models.BigIntegerField(null=True, blank=True)
    payout_tx_id = models.BigIntegerField(null=True, blank=True)
    payout_leaf_id = models.BigIntegerField(
        null=True, blank=True, help_text="The ledger leaf of the payout transaction."
    )
    anchor_leaf_id = models.BigIntegerField(null=True, blank=True, help_text="The leaf anchoring the payouts root.")

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="epoch_ends_after_start")
        ]
        indexes = [models.Index(fields=["state", "ends_at"])]

    def __str__(self) -> str:
        return f"epoch {self.number}"


class UsageReport(models.Model):
    """One accepted API request; its id keys the CREDIT fee transfer."""

    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="usage_reports")
    token = models.ForeignKey("portal.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payer = models.CharField(max_length=200)
    epoch = models.ForeignKey(Epoch, on_delete=models.PROTECT, related_name="reports")
    received = models.IntegerField()
    accepted = models.IntegerField(default=0)
    fee = models.DecimalField(default=0, **AMOUNT)
    fee_tx_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The target of each event's one foreign key to its report, its reporter and its epoch.
        constraints = [
            models.UniqueConstraint(fields=["id", "reporter", "epoch"], name="usagereport_id_reporter_epoch")
        ]

    def __str__(self) -> str:
        return f"report {self.pk}"


class UsageEvent(models.Model):
    """One metered use of a model or agent version. Accepted once per (reporter, idempotency key).

    Report, reporter and epoch are checked by one composite foreign key (report_id, reporter_id,
    epoch_id) -> usagereport (id, reporter_id, epoch_id), added by migration 0004 on PostgreSQL:
    one check per inserted event instead of three, and the report's own keys cover the reporter
    and the epoch. Their single-column indexes are left to the unique key and usageevent_epoch_asset."""

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    idempotency_key = models.CharField(max_length=100)
    report = models.ForeignKey(UsageReport, on_delete=models.PROTECT, related_name="events", db_constraint=False)
    epoch = models.ForeignKey(
        Epoch, on_delete=models.PROTECT, related_name="events", db_constraint=False, db_index=False
    )
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(
        "idaos.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agent_version = models.ForeignKey(
        "idaos.AgentVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=UsageKind.choices)
    units = models.BigIntegerField()
    weighted = models.BigIntegerField(help_text="units times the kind's weight: what the reward split counts.")
    fee = models.BigIntegerField(default=0, help_text="CREDIT charged for this event.")
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reporter", "idempotency_key"], name="usageevent_once_per_reporter_key"),
            models.CheckConstraint(condition=Q(units__gt=0) & Q(weighted__gte=0), name="usageevent_units_positive"),
            models.CheckConstraint(
                condition=Q(model_version__isnull=False, agent_version__isnull=True)
                | Q(model_version__isnull=True, agent_version__isnull=False),
                name="usageevent_one_asset",
            ),
        ]
        indexes = [models.Index(fields=["epoch", "model_version", "agent_version"], name="usageevent_epoch_asset")]

    def __str__(self) -> str:
        return f"{self.units} {self.kind}"


class EpochUsage(models.Model):
    """The epoch's usage per asset version, kept up to date by each report (one upsert per
    report, in its transaction), so closing an epoch never rescans its events."""

    epoch = models.ForeignKey(Epoch, on_delete=models.CASCADE, related_name="usage")
    asset = models.BigIntegerField(help_text="The model version id, or minus the agent version id.")
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(
        "idaos.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agent_version = models.ForeignKey(
        "idaos.AgentVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    events = models.BigIntegerField()
    weighted = models.DecimalField(**AMOUNT)
    fees = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["epoch", "asset"], name="epochusage_one_row_per_asset")]

    def __str__(self) -> str:
        return f"{self.events} events in epoch {self.epoch_id}"


class Attribution(models.Model):
    """Weighted usage of an epoch attributed to a DAT (or, with dat_id null, to no DAT: the
    iDAO's treasury takes that share). Scaled integers: see docs/rewards.md."""

    epoch = models.ForeignKey(Epoch, on_delete=models.CASCADE, related_name="attributions")
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="+")
    dat_id = models.BigIntegerField(null=True, blank=True)
    weight = models.DecimalField(**AMOUNT)

    class Meta:
        indexes = [models.Index(fields=["epoch", "idao"]), models.Index(fields=["dat_id", "epoch"])]

    def __str__(self) -> str:
        return f"dat {self.dat_id}: {self.weight}"


class PayoutRole(models.TextChoices):
    CONTRIBUTOR = "contributor", "Contributor"
    VALIDATOR = "validator", "Validator"
    TREASURY = "treasury", "Treasury"


class Payout(models.Model):
    """One line of an epoch's payout table. Lines of one recipient and asset are paid by one
    posting of the epoch's ledger transaction (`Epoch.payout_tx_id`)."""

    epoch = models.ForeignKey(Epoch, on_delete=models.PROTECT, related_name="payouts")
    asset = models.CharField(max_length=16)
    role = models.CharField(max_length=12, choices=PayoutRole.choices)
    recipient = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="+")
    dat_id = models.BigIntegerField(null=True, blank=True)
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive")]
        indexes = [
            models.Index(fields=["user", "epoch"]),
            models.Index(fields=["epoch", "recipient"]),
            models.Index(fields=["idao", "epoch"]),
            models.Index(fields=["dat_id", "epoch"]),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} to {self.recipient}"


class CreditGrant(models.Model):
    """CREDIT a steward moved from the iDAO treasury to a member for running models and agents."""

    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="+")
    steward = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_grants")
    amount = models.DecimalField(**AMOUNT)
    memo = models.CharField(max_length=200, blank=True)
    request_key = models.CharField(max_length=100, unique=True)
    ledger_tx_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="creditgrant_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} CREDIT to {self.member_id}"
