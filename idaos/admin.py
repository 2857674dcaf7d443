from django.contrib import admin
from django.db import models

from .models import IDAO, Agent, AIModel, Ballot, ManifestEntry, Membership, ModelVersion, Proposal


@admin.register(IDAO)
class IdaoAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "domain", "voting_rule", "membership_policy", "created_at")
    search_fields = ("slug", "name")
    list_filter = ("domain", "voting_rule")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("idao", "user", "role", "status", "joined_at")
    list_filter = ("status", "role")
    raw_id_fields = ("idao", "user")


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ("id", "idao", "kind", "title", "state", "voting_ends_at")
    list_filter = ("state", "kind")
    raw_id_fields = ("idao", "author")
    # State changes go through idaos.services.proposals only.
    readonly_fields = ("state", "tally", "ballots_root", "result_leaf_id", "execution_leaf_id", "eligible_power")
    # A discussion link typed without a scheme is https (Django 6's default; silences its warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Ballot)
class BallotAdmin(admin.ModelAdmin):
    list_display = ("id", "proposal", "voter", "choice", "timestamp", "counted")
    raw_id_fields = ("proposal",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # signed receipts are immutable


admin.site.register([AIModel, ModelVersion, ManifestEntry, Agent])
