"""Reads shaped for callers, pages and the API."""

from __future__ import annotations

from collections.abc import Iterable

from .models import Balance


def balance(owner: str, asset: str) -> int:
    row = Balance.objects.filter(account__owner=owner, asset=asset).values_list("amount", flat=True).first()
    return int(row) if row is not None else 0


def balances(owners: Iterable[str], asset: str) -> dict[str, int]:
    wanted = list(owners)
    found = dict(Balance.objects.filter(account__owner__in=wanted, asset=asset).values_list("account__owner", "amount"))
    return {owner: int(found.get(owner, 0)) for owner in wanted}
