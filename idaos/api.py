"""The governance API under /api/v1: iDAOs, memberships, proposals and signed votes. The `.json`
pages (`/governance/eip712.json`, `/proposals/<id>/ballots.json`) are aliases of operations here."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import Query, Status

from portal.auth import api_auth, token_user
from portal.errors import DomainError
from portal.http import PortalRequest
from portal.routers import PortalRouter

from . import api_treasury, eip712, selectors
from .models import Membership
from .schemas import (
    AgentIn,
    AgentOut,
    DecisionIn,
    DelegationIn,
    DelegationListOut,
    DelegationNonceOut,
    DelegationOut,
    Eip712Out,
    IdaoIn,
    IdaoListOut,
    IdaoOut,
    IdaosQuery,
    LeaveIn,
    MembershipListOut,
    MembershipOut,
    MembershipsQuery,
    ModelIn,
    ModelOut,
    ProposalExportOut,
    ProposalIn,
    ProposalListOut,
    ProposalOut,
    ProposalsQuery,
    RoleIn,
    Slug,
    StatementIn,
    StatementOut,
    VoteIn,
    VoteOut,
)
from .services import assets, ballots, delegations, proposals
from .services import membership as membership_services
from .services.idaos import idao_create

router = PortalRouter(tags=["idaos"])
GOVERNANCE = "governance:write"

# What a signed ballot can be refused for (idaos.services.ballots), by status.
BALLOT_ERRORS = (
    "not_found",
    "not_member",
    "not_eligible",
    "not_your_ballot",
    "voting_closed",
    "voting_not_open",
    "duplicate_ballot",
    "superseded",
    "invalid_ballot",
    "malformed_ballot",
    "unexpected_fields",
    "reason_too_long",
    "timestamp_in_future",
    "timestamp_outside_window",
    "wrong_chain_id",
    "wrong_domain",
    "wrong_idao",
    "wrong_proposal",
    "wrong_types",
    # A signal with options (docs/governance.md "Signals with several options").
    "wrong_ballot_type",
    "unknown_option",
    "duplicate_option",
    "empty_selection",
    "too_many_options",
    "bad_signature",
    "contract_wallet_unverifiable",
    "chain_unavailable",
    "rate_limited",
)


def _viewer(request: HttpRequest) -> Any:
    """Who reads a public operation: the bearer token's user if one is sent, else the session's."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        found = token_user(header[7:].strip())
        return found[0] if found else None
    return request.user


def _membership_dict(m) -> dict[str, Any]:
    return {
        "id": m.pk,
        "idao": m.idao.slug,
        "address": m.user.address,
        "role": m.role,
        "status": m.status,
        "joined_at": m.joined_at.isoformat() if m.joined_at else None,
    }


@router.get("/idaos", response=IdaoListOut, summary="List iDAOs (search with q, filter by domain)")
def list_idaos(request: HttpRequest, query: Query[IdaosQuery]) -> dict:
    items = selectors.idao_list(q=query.q, domain=query.domain, limit=query.limit, offset=query.offset)
    return {"items": [selectors.idao_dict(i) for i in items]}


@router.post(
    "/idaos",
    auth=api_auth(scope=GOVERNANCE),
    response={201: IdaoOut},
    errors=("slug_taken", "invalid_input", "rate_limited"),
    summary="Form an iDAO (you become its first steward)",
)
def create_idao(request: PortalRequest, body: IdaoIn) -> Status:
    idao = idao_create(
        creator=request.auth,
        slug=body.slug,
        name=body.name,
        domain=body.domain,
        description=body.description,
        charter=body.charter(),
    )
    return Status(201, selectors.idao_dict(idao))


@router.get("/idaos/{slug}", response=IdaoOut, errors=("not_found",), summary="One iDAO with its charter")
def get_idao(request: HttpRequest, slug: Slug) -> dict:
    return selectors.idao_dict(selectors.idao_get(slug))


@router.post(
    "/idaos/{slug}/join",
    auth=api_auth(scope=GOVERNANCE),
    response={201: MembershipOut},
    errors=("not_found", "already_member", "already_requested", "forbidden"),
    summary="Join, or ask to join, an iDAO",
)
def join_idao(request: PortalRequest, slug: Slug) -> Status:
    membership = membership_services.membership_join(idao=selectors.idao_get(slug), user=request.auth)
    return Status(201, _membership_dict(membership))


@router.post(
    "/idaos/{slug}/leave",
    auth=api_auth(scope=GOVERNANCE),
    response={200: MembershipOut},
    errors=("not_found", "not_member", "last_steward", "invalid_input"),
    summary="Leave an iDAO, or withdraw your request to join (send confirm: true; the last steward cannot)",
)
def leave_idao(request: PortalRequest, slug: Slug, body: LeaveIn) -> dict:
    if not body.confirm:
        raise DomainError("Send confirm: true to leave.", code="invalid_input", status=422)
    membership = membership_services.membership_leave(idao=selectors.idao_get(slug), user=request.auth)
    return _membership_dict(membership)


@router.get(
    "/idaos/{slug}/memberships",
    auth=api_auth(scope=GOVERNANCE),
    response=MembershipListOut,
    errors=("not_found", "not_steward"),
    summary="The iDAO's members and requests to join (stewards; filter by status)",
)
def list_memberships(request: PortalRequest, slug: Slug, query: Query[MembershipsQuery]) -> dict:
    idao = selectors.idao_get(slug)
    membership_services.steward_require(idao=idao, user=request.auth)
    rows = Membership.objects.filter(idao=idao, status__in=[query.status] if query.status else ["pending", "active"])
    return {"items": [_membership_dict(m) for m in rows.select_related("idao", "user").order_by("status", "id")[:500]]}


@router.post(
    "/idaos/{slug}/memberships/{membership_id}/decision",
    auth=api_auth(scope=GOVERNANCE),
    response={200: MembershipOut},
    errors=("not_found", "not_steward", "not_pending"),
    summary="Approve or deny a request to join (stewards; the first decision wins)",
)
def decide_membership(request: PortalRequest, slug: Slug, membership_id: int, body: DecisionIn) -> dict:
    membership = membership_services.membership_decide(
        idao=selectors.idao_get(slug), steward=request.auth, membership_id=membership_id, approve=body.approve
    )
    return _membership_dict(membership)


@router.post(
    "/idaos/{slug}/memberships/{membership_id}/role",
    auth=api_auth(scope=GOVERNANCE),
    response={200: MembershipOut},
    errors=("not_found", "not_steward", "invalid_input", "last_steward"),
    summary="Make a member a steward, or a steward a member (stewards; the last steward stays)",
)
def set_membership_role(request: PortalRequest, slug: Slug, membership_id: int, body: RoleIn) -> dict:
    membership = membership_services.membership_set_role(
        idao=selectors.idao_get(slug), steward=request.auth, membership_id=membership_id, role=body.role
    )
    return _membership_dict(membership)


@router.post(
    "/idaos/{slug}/models",
    auth=api_auth(scope=GOVERNANCE),
    response={201: ModelOut},
    errors=("not_found", "not_steward", "invalid_input", "name_taken", "dat_not_found", "dat_forbids_training"),
    summary="Register an AI model with its first version and manifest (stewards)",
)
def register_model(request: PortalRequest, slug: Slug, body: ModelIn) -> Status:
    idao = selectors.idao_get(slug)
    model = assets.aimodel_register(
        idao=idao,
        steward=request.auth,
        name=body.name,
        description=body.description,
        artifact_hash=body.artifact_hash,
        manifest=body.manifest,
    )
    version = model.versions.get(current=True)
    return Status(
        201,
        {
            "id": model.pk,
            "idao": idao.slug,
            "name": model.name,
            "description": model.description,
            "current_version": version.number,
            "artifact_hash": version.artifact_hash,
            "manifest": list(version.manifest.order_by("id").values_list("data_ref", flat=True)),
        },
    )


@router.post(
    "/idaos/{slug}/agents",
    auth=api_auth(scope=GOVERNANCE),
    response={201: AgentOut},
    errors=("not_found", "not_steward", "invalid_input", "name_taken"),
    summary="Register an agent with its first behaviour policy (stewards)",
)
def register_agent(request: PortalRequest, slug: Slug, body: AgentIn) -> Status:
    agent = assets.agent_register(
        idao=selectors.idao_get(slug),
        steward=request.auth,
        name=body.name,
        description=body.description,
        behaviour_policy=body.behaviour_policy,
        artifact_hash=body.artifact_hash,
    )
    return Status(201, selectors.agent_dict(agent))


@router.get(
    "/agents/{agent_id}",
    response=AgentOut,
    errors=("agent_not_found",),
    summary="An agent's current behaviour policy and every version (passed change_agent_policy proposals)",
)
def get_agent(request: HttpRequest, agent_id: int) -> dict:
    return selectors.agent_dict(selectors.agent_get(agent_id))


@router.get(
    "/idaos/{slug}/proposals",
    response=ProposalListOut,
    errors=("not_found",),
    summary="Proposals of an iDAO, newest first",
)
def list_proposals(request: HttpRequest, slug: Slug, query: Query[ProposalsQuery]) -> dict:
    qs = selectors.proposal_list(idao=selectors.idao_get(slug), user=_viewer(request), state=query.state)
    rows = qs[query.offset : query.offset + query.limit]
    return {"items": [selectors.proposal_dict(p, with_tally=False) for p in rows]}


@router.post(
    "/idaos/{slug}/proposals",
    auth=api_auth(scope=GOVERNANCE),
    response={201: ProposalOut},
    errors=(
        "not_found",
        "not_member",
        "proposal_threshold",
        "unknown_kind",
        "invalid_input",
        "invalid_payload",
        "invalid_options",
        "unknown_quorum",
        "rate_limited",
        "active_proposal_limit",
        "daily_proposal_limit",
    ),
    summary="Create a proposal",
)
def create_proposal(request: PortalRequest, slug: Slug, body: ProposalIn) -> Status:
    proposal = proposals.proposal_create(
        idao=selectors.idao_get(slug),
        author=request.auth,
        kind=body.kind,
        title=body.title,
        description=body.description,
        payload=body.payload,
        submit=body.submit,
    )
    return Status(201, selectors.proposal_dict(selectors.proposal_get(proposal.pk, user=request.auth)))


@router.post(
    "/proposals/{proposal_id}/submit",
    auth=api_auth(scope=GOVERNANCE),
    response={200: ProposalOut},
    errors=(
        "not_found",
        "not_author",
        "not_draft",
        "not_member",
        "proposal_threshold",
        "active_proposal_limit",
        "daily_proposal_limit",
    ),
    summary="Submit your draft: voting opens per the charter",
)
def submit_proposal(request: PortalRequest, proposal_id: int) -> dict:
    selectors.proposal_get(proposal_id, user=request.auth)  # someone else's draft does not exist
    proposals.proposal_submit(proposal_id=proposal_id, author=request.auth)
    return selectors.proposal_dict(selectors.proposal_get(proposal_id, user=request.auth))


@router.post(
    "/proposals/{proposal_id}/cancel",
    auth=api_auth(scope=GOVERNANCE),
    response={200: ProposalOut},
    errors=("not_found", "not_author", "not_cancellable", "has_votes"),
    summary="Cancel your draft, or your proposal before anyone voted",
)
def cancel_proposal(request: PortalRequest, proposal_id: int) -> dict:
    selectors.proposal_get(proposal_id, user=request.auth)
    proposals.proposal_cancel(proposal_id=proposal_id, author=request.auth)
    return selectors.proposal_dict(selectors.proposal_get(proposal_id, user=request.auth))


# Proposal ids in paths are plain integers: an id no proposal has (negative, 20 digits) is 404.
@router.get(
    "/proposals/{proposal_id}",
    response=ProposalOut,
    errors=("not_found",),
    summary="One proposal with its state and live tally",
)
def get_proposal(request: HttpRequest, proposal_id: int) -> dict:
    """A draft is shown to its author only; to everyone else it does not exist (404)."""
    return selectors.proposal_dict(selectors.proposal_get(proposal_id, user=_viewer(request)))


@router.get(
    "/proposals/{proposal_id}/ballots",
    response=ProposalExportOut,
    errors=("proposal_not_found",),
    summary="Every signed ballot, the voting-power snapshot and the result's proof (recount offline)",
)
def proposal_ballots(request: HttpRequest, proposal_id: int) -> dict:
    """Also served as /proposals/<id>/ballots.json (a download). Drafts do not exist here."""
    return selectors.proposal_export(selectors.proposal_exported(proposal_id))


@router.get("/governance/eip712", response=Eip712Out, summary="The EIP-712 domain and types ballots are signed with")
def governance_eip712(request: HttpRequest) -> dict:
    """Also served as /governance/eip712.json."""
    return eip712.published()


@router.post(
    "/proposals/{proposal_id}/votes",
    auth=api_auth(scope=GOVERNANCE),
    response={201: VoteOut},
    errors=BALLOT_ERRORS,
    summary="Submit a signed EIP-712 ballot (see /api/v1/governance/eip712)",
)
def cast_vote(request: PortalRequest, proposal_id: int, body: VoteIn, response: HttpResponse) -> HttpResponse:
    if len(request.body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise RequestDataTooBig("body too large")
    ballot_id, row = ballots.ballot_submit(
        proposal_id=proposal_id,
        message=body.message,
        signature=body.signature,
        user=request.auth,
        domain=body.domain,
        types=body.types,
        primary_type=body.primaryType,
    )
    # Built here in the declared shape (VoteOut: selectors.ballot_row_dict gives BallotOut's
    # fields in its order, from the recorded row's values: no Ballot instance) and rendered
    # directly: validating it again on the way out through django-ninja's schemas was about a
    # tenth of a vote's CPU (tests/idaos/test_votes.py checks it against VoteOut).
    answer = {"ballot": selectors.ballot_row_dict(ballot_id, row), "receipt_url": f"/ballots/{ballot_id}"}
    # Into the response django-ninja made for this call (`response`), rather than a second one.
    # The answer holds only JSON's own types (strings, numbers, booleans, None, the signed message
    # as cleaned), so json.dumps writes the bytes django-ninja's renderer (json.dumps with its
    # encoder class, whose default() serves only other types) would, without an encoder per call.
    response.status_code = 201
    response.content = json.dumps(answer)
    return response


# What a signed delegation or revocation can be refused for (idaos.services.delegations).
DELEGATION_ERRORS = (
    "malformed_delegation",
    "invalid_delegation",
    "delegation_expired",
    "delegation_replayed",
    "wrong_nonce",
    "wrong_domain",
    "bad_signature",
    "not_your_delegation",
    "contract_wallet_unverifiable",
    "chain_unavailable",
)


@router.post(
    "/delegations",
    auth=api_auth(scope=GOVERNANCE),
    response={201: DelegationOut},
    errors=DELEGATION_ERRORS,
    summary="Submit a signed EIP-712 Delegation (see /api/v1/governance/eip712, `delegation`)",
)
def create_delegation(request: PortalRequest, body: DelegationIn) -> Status:
    d = delegations.delegation_create(
        message=body.message, signature=body.signature, domain=body.domain, user=request.auth
    )
    return Status(201, selectors.delegation_dict(d))


@router.post(
    "/delegations/revocations",
    auth=api_auth(scope=GOVERNANCE),
    response={200: DelegationOut},
    errors=(*DELEGATION_ERRORS, "delegation_not_found"),
    summary="Submit a signed EIP-712 Revocation: your live delegation in the scope ends",
)
def revoke_delegation(request: PortalRequest, body: DelegationIn) -> dict:
    d = delegations.delegation_revoke(
        message=body.message, signature=body.signature, domain=body.domain, user=request.auth
    )
    return selectors.delegation_dict(d)


@router.get(
    "/delegations/nonce/{address}",
    response=DelegationNonceOut,
    errors=("malformed_delegation",),
    summary="The next nonce this address's Delegation or Revocation must carry",
)
def delegation_nonce(request: HttpRequest, address: str) -> dict:
    return {"address": address, "nonce": delegations.delegation_nonce(delegator=address)}


@router.get(
    "/delegations/by/{address}",
    response=DelegationListOut,
    summary="An address's delegations (live and ended), each with its signed receipt",
)
def delegations_by(request: HttpRequest, address: str) -> dict:
    return {"items": [selectors.delegation_dict(d) for d in selectors.delegation_list(delegator=address)]}


@router.get(
    "/delegations/to/{address}",
    response=DelegationListOut,
    summary="The live delegations naming this address as a delegate",
)
def delegations_to(request: HttpRequest, address: str) -> dict:
    return {"items": [selectors.delegation_dict(d) for d in selectors.delegations_to(delegate=address)]}


@router.post(
    "/delegates/statement",
    auth=api_auth(scope=GOVERNANCE),
    response=StatementOut,
    errors=("invalid_input",),
    summary="Publish (or replace) your statement as a delegate, shown on your profile and in directories",
)
def set_statement(request: PortalRequest, body: StatementIn) -> dict:
    statement = delegations.delegate_statement_set(user=request.auth, text=body.text)
    return {"address": request.auth.address, "text": statement.text, "updated_at": statement.updated_at}


@router.get(
    "/delegates/{address}/statement",
    response=StatementOut,
    errors=("not_found",),
    summary="A delegate's published statement (empty text when they have none)",
)
def get_statement(request: HttpRequest, address: str) -> dict:
    return selectors.statement_get(address)


# The treasury and discussion operations live in their own module (idaos.api_treasury).
router.add_router("", api_treasury.router)
