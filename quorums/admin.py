"""Read-only Django admin views of quorum records; moderation itself happens on
/quorums/moderation/, where every action needs a reason and is audited and anchored."""

from __future__ import annotations

from django.contrib import admin

from .models import AuditEntry, Equivocation, FraudCase, ParkedTask, Quorum, Round, Slash, Validator


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Quorum)
class QuorumAdmin(ReadOnly):
    list_display = ("name", "committee_size", "threshold_bps", "min_bond", "paused")


@admin.register(Validator)
class ValidatorAdmin(ReadOnly):
    list_display = ("address", "quorum", "stake", "state")
    list_filter = ("state", "quorum")


@admin.register(Round)
class RoundAdmin(ReadOnly):
    list_display = ("id", "quorum", "subject_kind", "subject_ref", "state", "outcome", "deadline")
    list_filter = ("state", "outcome")


@admin.register(Slash)
class SlashAdmin(ReadOnly):
    list_display = ("validator", "round", "reason", "amount", "created_at")


@admin.register(Equivocation)
class EquivocationAdmin(ReadOnly):
    list_display = ("validator", "round", "detected_at")


@admin.register(FraudCase)
class FraudCaseAdmin(ReadOnly):
    list_display = ("id", "validator", "state", "opened_at", "decided_at")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly):
    list_display = ("created_at", "actor", "action", "target", "reason", "anchor_leaf_id")


@admin.register(ParkedTask)
class ParkedTaskAdmin(ReadOnly):
    list_display = ("parked_at", "task_name", "args", "retries", "resolved", "error")
    list_filter = ("resolved",)
