from __future__ import annotations

from django.contrib import admin

from .models import CreditGrant, Epoch, Payout


@admin.register(Epoch)
class EpochAdmin(admin.ModelAdmin):
    list_display = ("number", "state", "starts_at", "ends_at", "event_count", "pool_laz", "pool_credit", "payout_count")
    list_filter = ("state",)
    readonly_fields = [f.name for f in Epoch._meta.fields]


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ("epoch", "asset", "role", "recipient", "dat_id", "amount")
    list_filter = ("asset", "role")
    search_fields = ("recipient",)
    readonly_fields = [f.name for f in Payout._meta.fields]


@admin.register(CreditGrant)
class CreditGrantAdmin(admin.ModelAdmin):
    list_display = ("idao", "member", "amount", "steward", "created_at", "ledger_tx_id")
    readonly_fields = [f.name for f in CreditGrant._meta.fields]
