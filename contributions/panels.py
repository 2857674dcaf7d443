"""The contributions panels of the dashboard (in flight) and of a profile (contributions);
registered from ContributionsConfig.ready(). One query each, whatever the history."""

from __future__ import annotations

from typing import Any

from portal.dashboard import DashboardPanel
from portal.profiles import ProfilePanel

from .models import Contribution, ContributionState

IN_FLIGHT = (ContributionState.UPLOADED, ContributionState.ROUTED, ContributionState.IN_REVIEW)


def in_flight_panel(user: Any) -> DashboardPanel:
    """This person's uploads still waiting for a quorum or in review, oldest first."""
    items = list(
        Contribution.objects.filter(owner=user, state__in=IN_FLIGHT).select_related("idao").order_by("id")[:20]
    )
    return DashboardPanel("Your contributions in flight", "contributions/_dashboard_in_flight.html", {"items": items})


def contributions_profile_panel(person: Any, viewer: Any) -> ProfilePanel | None:
    """The person's latest contributions (titles and states are public, files are not)."""
    items = list(Contribution.objects.filter(owner=person).select_related("idao").order_by("-id")[:20])
    if not items:
        return None
    return ProfilePanel("Contributions", "contributions/_profile_contributions.html", {"items": items}, "contributions")
