"""The chain outbox: every transaction the portal sends to a public chain is a row here first.

`ChainTx` moves pending → sent → confirmed (or failed); its nonce is drawn under a lock on the
sender's `ChainSender` row, from the outbox itself (never from the node's `pending` count), so
two publishers can never give one nonce to two publications. `AnchorPublication` is what an
anchoring transaction commits: the blocks fromHeight..toHeight and the root over their hashes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ChainSender(models.Model):
    """One row per (chain, sending address): locked while nonces are assigned."""

    chain_id = models.BigIntegerField()
    address = models.CharField(max_length=42)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "address"], name="chainsender_unique")]

    def __str__(self) -> str:
        return f"{self.address} on chain {self.chain_id}"


class ChainTxState(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class ChainTx(models.Model):
    """One publication. `key` names the business event (`anchor:1-40`, `erc8028:mint:7`), so
    planning it twice makes one row. `tx_hashes` keeps every signed version (replacements bump
    the fee with the same nonce); whichever is mined is `tx_hash`."""

    sender = models.ForeignKey(ChainSender, on_delete=models.PROTECT, related_name="txs")
    key = models.CharField(max_length=200, unique=True)
    purpose = models.CharField(max_length=40)
    to = models.CharField(max_length=42)
    data = models.TextField(help_text="0x-prefixed calldata")
    state = models.CharField(max_length=10, choices=ChainTxState.choices, default=ChainTxState.PENDING)
    nonce = models.BigIntegerField(null=True, blank=True)
    gas = models.BigIntegerField(null=True, blank=True)
    max_fee_per_gas = models.DecimalField(max_digits=78, decimal_places=0, null=True, blank=True)
    max_priority_fee_per_gas = models.DecimalField(max_digits=78, decimal_places=0, null=True, blank=True)
    tx_hash = models.CharField(max_length=66, blank=True, default="")
    tx_hashes = models.JSONField(default=list)
    raw_tx = models.TextField(blank=True, default="")
    replacements = models.PositiveIntegerField(default=0)
    resends = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    mined_block = models.BigIntegerField(null=True, blank=True)
    mined_block_hash = models.CharField(max_length=66, blank=True, default="")
    gas_used = models.BigIntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "nonce"], name="chaintx_state_nonce")]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "nonce"], condition=Q(nonce__isnull=False), name="chaintx_sender_nonce"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class AnchorPublication(models.Model):
    """Blocks from_height..to_height anchored by one call of LedgerAnchor.anchor."""

    chain_tx = models.OneToOneField(ChainTx, on_delete=models.PROTECT, related_name="anchor_publication")
    chain_id = models.BigIntegerField()
    contract = models.CharField(max_length=42)
    from_height = models.BigIntegerField()
    to_height = models.BigIntegerField()
    last_block_hash = models.CharField(max_length=66)
    root_of_roots = models.CharField(max_length=66)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["from_height"]
        constraints = [
            models.CheckConstraint(condition=Q(to_height__gte=models.F("from_height")), name="anchorpub_range"),
            # Racing planners meet here: one publication per starting height per contract.
            models.UniqueConstraint(fields=["chain_id", "contract", "from_height"], name="anchorpub_from"),
        ]

    def __str__(self) -> str:
        return f"anchor of blocks {self.from_height}-{self.to_height}"
