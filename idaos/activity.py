"""The directory's activity columns: active votes and treasury balances per iDAO, in the query
that lists the iDAOs (no query per row)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, DecimalField, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from ledger import owners
from ledger.models import Balance

from .models import Proposal, ProposalState


def with_activity(qs: QuerySet[Any]) -> QuerySet[Any]:
    """iDAO rows with `active_votes` and `treasury_laz` / `treasury_credit` (the treasury account's
    balance, summed over shards), in the same query."""
    active = (
        Proposal.objects.filter(idao=OuterRef("pk"), state=ProposalState.ACTIVE, voting_ends_at__gt=timezone.now())
        .values("idao")
        .annotate(n=Count("id"))
        .values("n")
    )

    def treasury(asset: str):
        total = (
            Balance.objects.filter(account__owner=Concat(Value(owners.idao("")), OuterRef("slug")), asset=asset)
            .values("asset")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return Coalesce(Subquery(total, output_field=DecimalField()), Value(0), output_field=DecimalField())

    return qs.annotate(
        active_votes=Coalesce(Subquery(active, output_field=IntegerField()), Value(0)),
        treasury_laz=treasury("LAZ"),
        treasury_credit=treasury("CREDIT"),
    )
