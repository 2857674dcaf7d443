"""Reads other apps and pages rely on. Membership questions are answered from active rows only."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from portal.errors import NotFound

from .models import IDAO, Ballot, Membership, MembershipStatus, Proposal, Role


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def is_member(*, idao: IDAO, user: Any) -> bool:
    """True when `user` holds an active membership (member or steward) of `idao`."""
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(idao=idao, user_id=uid, status=MembershipStatus.ACTIVE).exists()


def is_steward(*, idao: IDAO, user: Any) -> bool:
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(idao=idao, user_id=uid, status=MembershipStatus.ACTIVE, role=Role.STEWARD).exists()


def member_addresses(idao: IDAO) -> list[str]:
    """EIP-55 addresses of the active members, in joining order."""
    return list(
        Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE)
        .order_by("joined_at", "id")
        .values_list("user__address", flat=True)
    )


def idao_list(*, q: str = "", domain: str = "", limit: int = 50, offset: int = 0) -> list[IDAO]:
    """The directory: search by name, slug or description, filter by domain, with member counts."""
    qs = (
        IDAO.objects.select_related("created_by")
        .annotate(member_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.ACTIVE)))
        .order_by("name")
    )
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q) | Q(description__icontains=q))
    if domain:
        qs = qs.filter(domain=domain)
    return list(qs[offset : offset + limit])


def idao_get(slug: str) -> IDAO:
    idao = IDAO.objects.filter(slug=slug).first()
    if idao is None:
        raise NotFound(f"There is no iDAO “{slug}”.")
    return idao


def proposal_get(proposal_id: int) -> Proposal:
    proposal = Proposal.objects.select_related("idao", "author").filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(f"There is no proposal {proposal_id}.")
    return proposal


def idao_dict(idao: IDAO) -> dict[str, Any]:
    return {
        "slug": idao.slug,
        "name": idao.name,
        "domain": idao.domain,
        "description": idao.description,
        "created_by": idao.created_by.address,
        "created_at": idao.created_at.isoformat(),
        "member_count": getattr(idao, "member_count", None),
        "treasury_owner": idao.treasury_owner,
        "charter": {
            "voting_rule": idao.voting_rule,
            "voting_period_seconds": int(idao.voting_period.total_seconds()),
            "voting_delay_seconds": int(idao.voting_delay.total_seconds()),
            "quorum_bps": idao.quorum_bps,
            "approval_threshold_bps": idao.approval_threshold_bps,
            "proposal_min_membership_age_seconds": int(idao.proposal_min_membership_age.total_seconds()),
            "proposal_min_stake": str(int(idao.proposal_min_stake)),
            "membership_policy": idao.membership_policy,
            "split_contributors_bps": idao.split_contributors_bps,
            "split_treasury_bps": idao.split_treasury_bps,
            "split_validators_bps": idao.split_validators_bps,
        },
    }


def proposal_dict(proposal: Proposal, *, with_tally: bool = True) -> dict[str, Any]:
    from .proposals import live_tally

    def iso(dt):
        return dt.isoformat() if dt else None

    data: dict[str, Any] = {
        "id": proposal.pk,
        "idao": proposal.idao.slug,
        "author": proposal.author.address,
        "kind": proposal.kind,
        "title": proposal.title,
        "description": proposal.description,
        "payload": proposal.payload,
        "state": proposal.state,
        "created_at": iso(proposal.created_at),
        "submitted_at": iso(proposal.submitted_at),
        "voting_starts_at": iso(proposal.voting_starts_at),
        "voting_ends_at": iso(proposal.voting_ends_at),
        "closed_at": iso(proposal.closed_at),
        "voting_rule": proposal.voting_rule or None,
        "ballots_root": proposal.ballots_root or None,
        "result_leaf_id": proposal.result_leaf_id,
        "execution_leaf_id": proposal.execution_leaf_id,
        "execution_error": proposal.execution_error or None,
    }
    if with_tally:
        if proposal.tally:
            data["tally"] = proposal.tally
        elif proposal.state == "active":
            data["tally"] = live_tally(proposal)
        else:
            data["tally"] = None
    return data


def ballot_dict(ballot: Ballot) -> dict[str, Any]:
    return {
        "id": ballot.pk,
        "proposal": ballot.proposal_id,
        "voter": ballot.voter,
        "choice": ballot.choice,
        "reason": ballot.reason,
        "timestamp": ballot.timestamp,
        "weight": str(int(ballot.weight)),
        "counted": ballot.counted,
        "digest": ballot.digest,
        "signature": ballot.signature,
        "message": ballot.message,
        "received_at": ballot.received_at.isoformat(),
    }
