"""What the ERC-8028 mirror has enqueued for each DAT and class (the chain lags by at most one
publication; `manage.py verify_chain` compares the chain with the portal)."""

from __future__ import annotations

from django.db import models


class Erc8028Mirror(models.Model):
    dat = models.OneToOneField("dats.DAT", on_delete=models.PROTECT, related_name="erc8028_mirror")
    chain_id = models.BigIntegerField()
    contract = models.CharField(max_length=42)
    state = models.JSONField(help_text="the token view as last enqueued")
    ops = models.PositiveIntegerField(default=0)
    seen_seq = models.PositiveIntegerField(default=0, help_text="the DAT's last event number mirrored")
    seen_used = models.PositiveIntegerField(default=0, help_text="the DAT's grant count mirrored")

    def __str__(self) -> str:
        return f"ERC-8028 mirror of DAT {self.dat_id}"


class Erc8028ClassMirror(models.Model):
    chain_id = models.BigIntegerField()
    contract = models.CharField(max_length=42)
    class_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "contract", "class_id"], name="erc8028class_unique"),
        ]

    def __str__(self) -> str:
        return f"ERC-8028 class {self.class_id}"
