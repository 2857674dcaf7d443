"""The earnings panel of the dashboard: the person's latest payout lines; registered from
RewardsConfig.ready(). One query."""

from __future__ import annotations

from typing import Any

from portal.dashboard import DashboardPanel

from .models import Payout


def earnings_panel(user: Any) -> DashboardPanel:
    lines = list(Payout.objects.filter(user=user).select_related("epoch", "idao").order_by("-epoch_id", "-id")[:5])
    return DashboardPanel("Your latest earnings", "rewards/_dashboard_earnings.html", {"lines": lines})
