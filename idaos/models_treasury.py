"""The treasury's standing orders (streams created by passed `treasury_stream` proposals, paid by
the reward epoch close) and the discussion thread of a proposal."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ledger.models import AMOUNT


class TreasuryStream(models.Model):
    """`amount` of `asset` per reward epoch from the iDAO treasury to `recipient` (a ledger owner),
    for `epochs` epochs, from the first epoch closed after the proposal executed. A later
    `treasury_stream_cancel` proposal ends it (`cancelled_by`)."""

    proposal = models.OneToOneField("idaos.Proposal", on_delete=models.PROTECT, related_name="stream")
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.CASCADE, related_name="streams")
    recipient = models.CharField(max_length=200)
    asset = models.CharField(max_length=10)
    amount = models.DecimalField(**AMOUNT)
    epochs = models.PositiveIntegerField()
    paid_epochs = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        "idaos.Proposal", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(paid_epochs__lte=models.F("epochs")), name="stream_paid_le_epochs")
        ]
        indexes = [models.Index(fields=["created_at"], condition=Q(cancelled_at=None), name="stream_live")]

    def __str__(self) -> str:
        return f"stream of proposal #{self.proposal_id}: {self.amount} {self.asset} x {self.epochs}"

    @property
    def live(self) -> bool:
        return self.cancelled_at is None and self.paid_epochs < self.epochs


class StreamPayment(models.Model):
    """One epoch's payment of a stream: paid (`ledger_tx_id`) or refused (`error`, e.g. the treasury
    held too little); at most one row per stream and epoch, so a close run twice pays once."""

    stream = models.ForeignKey(TreasuryStream, on_delete=models.CASCADE, related_name="payments")
    epoch_number = models.PositiveIntegerField()
    ledger_tx_id = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["epoch_number", "id"]
        constraints = [models.UniqueConstraint(fields=["stream", "epoch_number"], name="streampayment_once_per_epoch")]

    def __str__(self) -> str:
        return f"stream {self.stream_id} epoch {self.epoch_number}"


class ProposalComment(models.Model):
    """A member's comment on a proposal (Markdown source; rendered and sanitised on display). A
    reply names its parent; replies to replies attach to the same parent (one level)."""

    proposal = models.ForeignKey("idaos.Proposal", on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=10000)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hidden_reason = models.TextField(blank=True)
    hidden_leaf_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["proposal", "created_at"]), models.Index(fields=["author", "created_at"])]

    def __str__(self) -> str:
        return f"comment {self.pk} on #{self.proposal_id}"
