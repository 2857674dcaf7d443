"""Read-only Django admin views of quorum records; moderation itself happens on
/quorums/moderation/, where every action needs a reason and is audited and anchored."""

from __future__ import annotations

from django.contrib import admin

from portal.admin import ReadOnlyAdmin

from .models import AuditEntry, Equivocation, FraudCase, Quorum, Round, Slash, Validator


@admin.register(Quorum)
class QuorumAdmin(ReadOnlyAdmin):
    list_display = ("name", "committee_size", "threshold_bps", "min_bond", "paused")


@admin.register(Validator)
class ValidatorAdmin(ReadOnlyAdmin):
    list_display = ("address", "quorum", "stake", "state")
    list_filter = ("state", "quorum")


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = ("id", "quorum", "subject_kind", "subject_ref", "state", "outcome", "deadline")
    list_filter = ("state", "outcome")


@admin.register(Slash)
class SlashAdmin(ReadOnlyAdmin):
    list_display = ("validator", "round", "reason", "amount", "created_at")


@admin.register(Equivocation)
class EquivocationAdmin(ReadOnlyAdmin):
    list_display = ("validator", "round", "detected_at")


@admin.register(FraudCase)
class FraudCaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "validator", "state", "opened_at", "decided_at")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "target", "reason", "anchor_leaf_id")
