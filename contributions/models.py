"""Contributions: files members submit to an iDAO for validation (DATs are minted from the
accepted ones downstream, in dats).

The model moved here from dats with its table: it is still `dats_contribution`, with the index
names it was created with (migrations contributions 0001 and dats 0003 move it in state only)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_public_id() -> str:
    # The only identifier that appears in file URLs: 128 random bits, never a sequence.
    return secrets.token_urlsafe(16)


class ContributionKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    MODEL_WEIGHTS = "model_weights", "Model weights"
    AGENT = "agent", "Agent definition"
    MODEL_UPDATE = "model_update", "Model update"


class ContributionState(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded (waiting for a quorum)"
    ROUTED = "routed", "Routed to a quorum"
    IN_REVIEW = "in_review", "In review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired (no decision)"


class Contribution(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    idao = models.ForeignKey("idaos.IDAO", on_delete=models.PROTECT, related_name="contributions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contributions")
    kind = models.CharField(max_length=16, choices=ContributionKind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    licence = models.CharField(max_length=80)
    usage_policy = models.JSONField(default=dict, help_text="The usage policy the contributor asks for.")

    storage_name = models.CharField(max_length=255, unique=True, help_text="Generated; never derived from the upload.")
    original_name = models.CharField(max_length=255, blank=True, help_text="Sanitised; metadata only.")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=66, db_index=True)
    keccak256 = models.CharField(max_length=66)
    declared_type = models.CharField(max_length=100, blank=True)
    sniffed_type = models.CharField(max_length=40, blank=True)
    flags = models.JSONField(default=list, blank=True, help_text="Findings validators see: type_mismatch, duplicate, …")
    archive = models.JSONField(default=dict, blank=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    state = models.CharField(max_length=10, choices=ContributionState.choices, default=ContributionState.UPLOADED)
    round = models.ForeignKey("quorums.Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    waiting_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dats_contribution"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "id"], name="dats_contri_state_fb5703_idx"),
            models.Index(fields=["owner", "id"], name="dats_contri_owner_i_44b844_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=0), name="contribution_size_not_negative"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^0x[0-9a-f]{64}$"), name="contribution_sha256_hex"),
        ]

    def __str__(self) -> str:
        return self.title
