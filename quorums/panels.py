"""The quorums panels of the dashboard (open assignments) and of a profile (validator record);
registered from QuorumsConfig.ready(). One query each, whatever the history."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum

from portal.dashboard import DashboardPanel
from portal.profiles import ProfilePanel

from .models import RoundState, Seat, Validator, Verdict


def assignments_panel(user: Any) -> DashboardPanel | None:
    """Committee seats in open rounds that still wait for this person's verdict, deadline first."""
    signed = Verdict.objects.filter(round_id=OuterRef("round_id"), validator_id=OuterRef("validator_id"))
    seats = list(
        Seat.objects.filter(validator__user=user, round__state=RoundState.OPEN)
        .exclude(Exists(signed))
        .select_related("round__quorum")
        .order_by("round__deadline", "id")[:20]
    )
    if not seats and not Validator.objects.filter(user=user).exists():
        return None
    return DashboardPanel("Your validator assignments", "quorums/_dashboard_assignments.html", {"seats": seats})


def validator_record_panel(person: Any, viewer: Any) -> ProfilePanel | None:
    """Each quorum seat the person holds: stake, state, verdicts signed and slashes suffered."""
    validators = list(
        Validator.objects.filter(user=person)
        .select_related("quorum")
        .annotate(
            verdict_count=Count("verdicts", distinct=True),
            slash_count=Count("slashes", distinct=True),
            slashed=Sum("slashes__amount"),
            automated_count=Count("verdicts", filter=Q(verdicts__automated=True), distinct=True),
        )
        .order_by("quorum__name")
    )
    if not validators:
        return None
    return ProfilePanel("Validator record", "quorums/_profile_validator.html", {"validators": validators}, "validator")
