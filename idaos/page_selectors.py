"""Reads shaped for the pages; each page costs a fixed number of queries whatever the number of
ballots or members."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch

from ledger import selectors as ledger_selectors

from . import actions, eip712, hooks
from .models import IDAO, Agent, AIModel, Ballot, Membership, ModelVersion, Proposal, VotingPower
from .proposals import live_tally

VOTER_LIST_SIZE = 50


def _membership(idao: IDAO, user: Any) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(idao=idao, user=user, status__in=["pending", "active"]).first()


def idao_page(idao: IDAO, user: Any) -> dict[str, Any]:
    membership = _membership(idao, user)
    is_steward = bool(membership and membership.status == "active" and membership.role == "steward")
    members = (
        Membership.objects.filter(idao=idao, status="active")
        .select_related("user")
        .order_by("-role", "joined_at")[:100]
    )
    current_versions = ModelVersion.objects.filter(current=True).annotate(manifest_size=Count("manifest"))
    models = AIModel.objects.filter(idao=idao).prefetch_related(
        Prefetch("versions", queryset=current_versions, to_attr="current_versions")
    )
    treasury = {asset: ledger_selectors.balance(idao.treasury_owner, asset) for asset in ("LAZ", "CREDIT")}
    return {
        "idao": idao,
        "membership": membership,
        "is_steward": is_steward,
        "members": members,
        "member_count": Membership.objects.filter(idao=idao, status="active").count(),
        "pending_count": Membership.objects.filter(idao=idao, status="pending").count() if is_steward else 0,
        "models": models,
        "agents": Agent.objects.filter(idao=idao),
        "proposals": idao.proposals.exclude(state="draft").select_related("author")[:20],
        "treasury": treasury,
        "panels": hooks.idao_panels(idao),
    }


def _voters(proposal: Proposal):
    return list(
        Ballot.objects.filter(proposal=proposal, counted=True)
        .only("id", "voter", "choice", "weight", "timestamp", "reason", "received_at")
        .order_by("-received_at", "-id")[:VOTER_LIST_SIZE]
    )


def _tally_context(proposal: Proposal) -> dict[str, Any]:
    tally = proposal.tally if proposal.tally else live_tally(proposal)
    cast = int(tally["cast"]) or 0
    eligible = int(tally["eligible"]) or 0
    bars = [
        {"choice": c, "weight": tally[c], "bps": (int(tally[c]) * 10000 // cast) if cast else 0}
        for c in ("for", "against", "abstain")
    ]
    return {
        "proposal": proposal,
        "idao": proposal.idao,
        "tally": tally,
        "bars": bars,
        "quorum_needed": (int(tally["quorum_bps"]) * eligible + 9999) // 10000,
    }


def proposal_partial(proposal: Proposal, name: str) -> dict[str, Any]:
    if name == "tally":
        return _tally_context(proposal)
    return {"proposal": proposal, "voters": _voters(proposal), "voter_total": None}


def proposal_page(proposal: Proposal, user: Any) -> dict[str, Any]:
    context = _tally_context(proposal)
    my_power = my_ballot = None
    if getattr(user, "is_authenticated", False) and proposal.state == "active":
        my_power = VotingPower.objects.filter(proposal=proposal, voter=user.address).first()
        my_ballot = Ballot.objects.filter(proposal=proposal, voter=user.address, counted=True).first()
    context.update(
        {
            "description": actions.describe(proposal),
            "voters": _voters(proposal),
            "my_power": my_power,
            "my_ballot": my_ballot,
            "is_author": getattr(user, "pk", None) == proposal.author_id,
            "chain_id": eip712.domain()["chainId"],
        }
    )
    return context
