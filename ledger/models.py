"""Double-entry accounts, append-only postings, anchored leaves and sealed blocks.

Amounts are integers in the asset's smallest unit, stored as NUMERIC(78, 0) so any uint256 fits."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.urls import reverse

AMOUNT: dict[str, Any] = {"max_digits": 78, "decimal_places": 0}


class Asset(models.TextChoices):
    LAZ = "LAZ", "LAZ (utility token)"
    CREDIT = "CREDIT", "AI compute credits"


class Kind(models.TextChoices):
    MINT = "mint"
    TRANSFER = "transfer"
    BOND = "bond"
    UNBOND = "unbond"
    SLASH = "slash"
    REWARD = "reward"
    FEE = "fee"
    BURN = "burn"


class Account(models.Model):
    owner = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.owner


class Balance(models.Model):
    """The current balance of one account in one asset; changed only by ledger.services.

    A hot system account (`owners.SHARDED`) holds its balance in `SHARDS` rows (shard 0..SHARDS-1)
    so unrelated writers crediting it lock different rows; its balance is their sum. Every other
    account has the one row of shard 0."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balances")
    asset = models.CharField(max_length=16, choices=Asset.choices)
    shard = models.SmallIntegerField(default=0)
    amount = models.DecimalField(default=0, **AMOUNT)
    allow_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "asset", "shard"], name="ledger_balance_account_asset_shard"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0) | models.Q(allow_negative=True), name="ledger_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.asset} {self.amount}"


class Transaction(models.Model):
    kind = models.CharField(max_length=16, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    # keccak256 of the canonical content (kind, postings, memo): a repeated key must match it.
    fingerprint = models.CharField(max_length=66)
    memo = models.CharField(max_length=500, blank=True)
    # Not indexed: nothing looks transactions up by time (ids grow with it), and every index is
    # paid on each insert of the ledger's hottest table.
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"tx {self.pk} {self.kind}"


class Posting(models.Model):
    """One leg of a transaction. Append-only: a PostgreSQL trigger refuses UPDATE and DELETE."""

    # References checked per statement, not per row (migration 0006): transactions are
    # append-only and accounts are never deleted, so a row-level foreign key's lock on the parent
    # guards against a deletion that cannot happen, at one lock (and WAL record) per posting.
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings", db_constraint=False)
    # No index of its own: ledger_posting_history (account, asset, id) serves lookups by account.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_constraint=False, db_index=False
    )
    asset = models.CharField(max_length=16, choices=Asset.choices)
    amount = models.DecimalField(**AMOUNT)
    balance_after = models.DecimalField(**AMOUNT)

    class Meta:
        indexes = [models.Index(fields=["account", "asset", "id"], name="ledger_posting_history")]

    def __str__(self) -> str:
        return f"posting {self.pk} {self.amount} {self.asset}"


class Block(models.Model):
    """A sealed batch of leaves: those with first_leaf_id <= id <= last_leaf_id. Heights have no
    gaps and consecutive blocks' leaf ranges touch, so no leaf is in two blocks."""

    height = models.BigIntegerField(primary_key=True)
    first_leaf_id = models.BigIntegerField()
    last_leaf_id = models.BigIntegerField(db_index=True)
    prev_hash = models.CharField(max_length=66)
    merkle_root = models.CharField(max_length=66)
    leaf_count = models.IntegerField()
    timestamp = models.BigIntegerField(help_text="Unix seconds, as hashed into the block hash.")
    block_hash = models.CharField(max_length=66, unique=True)
    # Optional public anchoring: set once, after the block is sealed.
    evm_chain_id = models.BigIntegerField(null=True, blank=True)
    evm_tx_hash = models.CharField(max_length=66, blank=True, default="")

    class Meta:
        ordering = ["-height"]

    def __str__(self) -> str:
        return f"block {self.height}"

    def leaves(self) -> models.QuerySet[Leaf]:
        return Leaf.objects.filter(id__gte=self.first_leaf_id, id__lte=self.last_leaf_id)

    def header(self) -> dict:
        return {
            "height": self.height,
            "prevHash": self.prev_hash,
            "merkleRoot": self.merkle_root,
            "leafCount": self.leaf_count,
            "timestamp": self.timestamp,
            "blockHash": self.block_hash,
        }


class Leaf(models.Model):
    """An anchored record: its hash commits to (kind, subject), its id and its canonical JSON."""

    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=200)
    payload_json = models.TextField()
    payload_hash = models.CharField(max_length=66)
    leaf_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    transaction = models.OneToOneField(  # checked per statement, as Posting's references
        Transaction, on_delete=models.PROTECT, null=True, blank=True, related_name="leaf", db_constraint=False
    )

    # No (kind, subject) index: leaves are found by id (their owners keep it) or by transaction,
    # and every anchored record paid for one (migration 0008).

    def __str__(self) -> str:
        return f"leaf {self.pk} {self.kind}:{self.subject}"

    def get_absolute_url(self) -> str:
        return reverse("ledger:proof", args=[self.pk])


class ChainHead(models.Model):
    """One row, locked while sealing, so two workers never seal the same height."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    height = models.BigIntegerField(default=0)
    last_leaf_id = models.BigIntegerField(default=0)
    block_hash = models.CharField(max_length=66, default="0x" + "00" * 32)

    def __str__(self) -> str:
        return f"chain head at {self.height}"


from .models_onchain import AnchorPublication, ChainSender, ChainTx, ChainTxState  # noqa: E402, F401
