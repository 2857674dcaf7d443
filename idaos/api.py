"""The governance API under /api/v1: iDAOs, memberships, proposals and signed votes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from portal.auth import api_auth, token_user

from . import selectors
from .services import ballots, proposals
from .services import membership as membership_services
from .services.idaos import idao_create

router = Router(tags=["idaos"])


class IdaoIn(Schema):
    slug: str
    name: str
    domain: str
    description: str = ""
    voting_rule: str | None = None
    voting_period_seconds: int | None = None
    voting_delay_seconds: int | None = None
    quorum_bps: int | None = None
    approval_threshold_bps: int | None = None
    proposal_min_membership_age_seconds: int | None = None
    proposal_min_stake: int | None = None
    membership_policy: str | None = None
    split_contributors_bps: int | None = None
    split_treasury_bps: int | None = None
    split_validators_bps: int | None = None

    def charter(self) -> dict[str, Any]:
        renames = {
            "voting_period_seconds": "voting_period",
            "voting_delay_seconds": "voting_delay",
            "proposal_min_membership_age_seconds": "proposal_min_membership_age",
        }
        out = {}
        for name, value in self.dict(exclude={"slug", "name", "domain", "description"}).items():
            if value is not None:
                out[renames.get(name, name)] = value
        return out


class ProposalIn(Schema):
    kind: str
    title: str
    description: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
    submit: bool = True


class VoteIn(Schema):
    message: Any = None
    signature: Any = None
    domain: Any = None
    types: Any = None
    primaryType: Any = None


def _viewer(request: HttpRequest) -> Any:
    """Who reads a public operation: the bearer token's user if one is sent, else the session's."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        found = token_user(header[7:].strip())
        return found[0] if found else None
    return request.user


def _membership_dict(m) -> dict[str, Any]:
    return {
        "idao": m.idao.slug,
        "address": m.user.address,
        "role": m.role,
        "status": m.status,
        "joined_at": m.joined_at.isoformat() if m.joined_at else None,
    }


@router.get("/idaos", summary="List iDAOs (search with q, filter by domain)")
def list_idaos(request: HttpRequest, q: str = "", domain: str = "", limit: int = 50, offset: int = 0):
    limit = max(1, min(limit, 200))
    items = selectors.idao_list(q=q[:100], domain=domain, limit=limit, offset=max(offset, 0))
    return {"items": [selectors.idao_dict(i) for i in items]}


@router.post("/idaos", auth=api_auth, response={201: dict}, summary="Form an iDAO (you become its first steward)")
def create_idao(request: HttpRequest, body: IdaoIn):
    idao = idao_create(
        creator=request.user,
        slug=body.slug,
        name=body.name,
        domain=body.domain,
        description=body.description,
        charter=body.charter(),
    )
    return Status(201, selectors.idao_dict(idao))


@router.get("/idaos/{slug}", summary="One iDAO with its charter")
def get_idao(request: HttpRequest, slug: str):
    return selectors.idao_dict(selectors.idao_get(slug))


@router.post("/idaos/{slug}/join", auth=api_auth, response={201: dict}, summary="Join, or ask to join, an iDAO")
def join_idao(request: HttpRequest, slug: str):
    membership = membership_services.membership_join(idao=selectors.idao_get(slug), user=request.user)
    return Status(201, _membership_dict(membership))


@router.get("/idaos/{slug}/proposals", summary="Proposals of an iDAO, newest first")
def list_proposals(request: HttpRequest, slug: str, state: str = "", limit: int = 50, offset: int = 0):
    qs = selectors.proposal_list(idao=selectors.idao_get(slug), user=_viewer(request), state=state)
    limit = max(1, min(limit, 200))
    return {"items": [selectors.proposal_dict(p, with_tally=False) for p in qs[max(offset, 0) : offset + limit]]}


@router.post("/idaos/{slug}/proposals", auth=api_auth, response={201: dict}, summary="Create a proposal")
def create_proposal(request: HttpRequest, slug: str, body: ProposalIn):
    proposal = proposals.proposal_create(
        idao=selectors.idao_get(slug),
        author=request.user,
        kind=body.kind,
        title=body.title,
        description=body.description,
        payload=body.payload,
        submit=body.submit,
    )
    return Status(201, selectors.proposal_dict(selectors.proposal_get(proposal.pk, user=request.user)))


@router.get("/proposals/{proposal_id}", summary="One proposal with its state and live tally")
def get_proposal(request: HttpRequest, proposal_id: int):
    """A draft is shown to its author only; to everyone else it does not exist (404)."""
    return selectors.proposal_dict(selectors.proposal_get(proposal_id, user=_viewer(request)))


@router.post(
    "/proposals/{proposal_id}/votes",
    auth=api_auth,
    response={201: dict},
    summary="Submit a signed EIP-712 ballot (see /governance/eip712.json)",
)
def cast_vote(request: HttpRequest, proposal_id: int, body: VoteIn):
    if len(request.body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise RequestDataTooBig("body too large")
    ballot = ballots.ballot_cast(
        proposal_id=proposal_id,
        message=body.message,
        signature=body.signature,
        user=request.user,
        domain=body.domain,
        types=body.types,
        primary_type=body.primaryType,
    )
    return Status(201, {"ballot": selectors.ballot_dict(ballot), "receipt_url": f"/ballots/{ballot.pk}"})
