"""Read-only admin views: value moves only through ledger.services, never through a form."""

from __future__ import annotations

from django.contrib import admin

from portal.admin import ReadOnlyAdmin

from .models import Account, Balance, Block, Leaf, Posting, Transaction


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("owner", "created_at")
    search_fields = ("owner",)


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("account", "asset", "amount")
    list_filter = ("asset",)
    search_fields = ("account__owner",)
    list_select_related = ("account",)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "idempotency_key", "memo", "created_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "memo")


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction_id", "account", "asset", "amount", "balance_after")
    list_select_related = ("account",)


@admin.register(Leaf)
class LeafAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "subject", "created_at")
    search_fields = ("kind", "subject")


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ("height", "leaf_count", "merkle_root", "block_hash", "timestamp", "evm_tx_hash")
