"""Cross-iDAO reads for a person: the proposals waiting for them, every iDAO's active proposals,
their ballots across iDAOs. Each is one query whatever the number of iDAOs, proposals
or ballots."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from .models import Ballot, Membership, MembershipStatus, Proposal, ProposalState
from .selectors import proposals_visible

# The states a person filters the cross-iDAO list by; "open" is what still needs a vote.
LIST_STATES = {
    "open": [ProposalState.PENDING, ProposalState.ACTIVE],
    "active": [ProposalState.ACTIVE],
    "pending": [ProposalState.PENDING],
    "passed": [ProposalState.PASSED, ProposalState.EXECUTED],
    "failed": [ProposalState.REJECTED, ProposalState.QUORUM_NOT_MET, ProposalState.EXECUTION_FAILED],
    "cancelled": [ProposalState.CANCELLED],
    "all": [],
}


def _with_my_ballot(qs: QuerySet[Proposal], user: Any) -> QuerySet[Proposal]:
    """`my_choice`: the choice of the viewer's counted ballot, or None (never voted, or anonymous)."""
    if not getattr(user, "is_authenticated", False):
        return qs.annotate(my_choice=Value(None, output_field=Proposal._meta.get_field("title")))
    mine = Ballot.objects.filter(proposal=OuterRef("pk"), voter=user.address, counted=True)
    return qs.annotate(my_choice=Subquery(mine.values("choice")[:1]))


def proposals_awaiting(user: Any, *, limit: int = 20) -> list[Proposal]:
    """Active proposals of the iDAOs `user` is an active member of, closing soonest first, each with
    `my_choice` (None: you have not voted)."""
    member_of = Membership.objects.filter(user=user, status=MembershipStatus.ACTIVE).values("idao_id")
    qs = Proposal.objects.filter(
        state=ProposalState.ACTIVE, idao_id__in=member_of, voting_ends_at__gt=timezone.now()
    ).select_related("idao")
    return list(_with_my_ballot(qs, user).order_by("voting_ends_at", "id")[:limit])


def proposals_across(
    *, user: Any, state: str = "open", q: str = "", limit: int = 50, offset: int = 0
) -> list[Proposal]:
    """Every iDAO's proposals `user` may see, filtered by a LIST_STATES key and a title/iDAO search."""
    qs = proposals_visible(user).select_related("idao")
    if LIST_STATES.get(state):
        qs = qs.filter(state__in=LIST_STATES[state])
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(idao__name__icontains=q) | Q(idao__slug__icontains=q))
    order = ("voting_ends_at", "id") if state in ("open", "active") else ("-created_at", "-id")
    return list(_with_my_ballot(qs, user).order_by(*order)[offset : offset + limit])


def my_ballots(user: Any, *, limit: int = 100, offset: int = 0) -> list[Ballot]:
    """The ballots `user` cast that count (the latest per proposal), newest first, across iDAOs."""
    return list(
        Ballot.objects.filter(voter=user.address, counted=True)
        .select_related("proposal__idao")
        .order_by("-received_at", "-id")[offset : offset + limit]
    )
