"""The treasury and discussion operations under /api/v1 (mounted on idaos.api's router): the
treasury of an iDAO, the guardian veto, a proposal's discussion link and its comment thread.
Treasury proposals themselves are created with `POST /api/v1/idaos/{slug}/proposals` (kinds
treasury_transfer, treasury_stream, treasury_stream_cancel)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Schema, Status

from portal.auth import api_auth, token_user
from portal.http import PortalRequest
from portal.routers import PortalRouter

from . import selectors, selectors_treasury
from .models_treasury import ProposalComment
from .schemas import Slug
from .services import comments, treasury

router = PortalRouter()  # mounted on idaos.api.router, whose tag it inherits
GOVERNANCE = "governance:write"


class InflowOut(Schema):
    source: str
    kind: str
    asset: str
    amount: str


class OutflowOut(Schema):
    ledger_tx: int
    asset: str
    amount: str
    memo: str
    at: datetime
    source: str = Field(description="proposal, stream, steward_grant or other")
    proposal: int | None
    label: str


class StreamOut(Schema):
    proposal: int
    recipient: str
    asset: str
    amount_per_epoch: str
    epochs: int
    paid_epochs: int
    live: bool
    cancelled_by: int | None


class TimelockedOut(Schema):
    id: int
    title: str
    kind: str
    execute_after: datetime


class TreasuryOut(Schema):
    idao: str
    owner: str
    balances: dict[str, str]
    inflows: list[InflowOut]
    outflows: list[OutflowOut]
    streams: list[StreamOut]
    timelocked: list[TimelockedOut]
    steward_spend_limit: dict[str, str]
    execution_delay_seconds: int
    guardian_veto: bool


class VetoIn(Schema):
    reason: Annotated[str, Field(max_length=2000)]


class VetoOut(Schema):
    id: int
    state: str
    vetoed_by: str
    veto_reason: str
    veto_leaf_id: int


class DiscussionIn(Schema):
    url: Annotated[str, Field(max_length=500)]


class DiscussionOut(Schema):
    id: int
    discussion_url: str


class CommentIn(Schema):
    body: Annotated[str, Field(max_length=10000)]
    parent: int | None = None


class CommentEditIn(Schema):
    body: Annotated[str, Field(max_length=10000)]


class HideIn(Schema):
    reason: Annotated[str, Field(max_length=500)]


class CommentOut(Schema):
    id: int
    proposal: int
    parent: int | None
    author: str
    body: str | None = Field(description="The Markdown source; null when hidden (staff and stewards see it)")
    html: str | None = Field(description="The sanitised HTML rendering")
    created_at: datetime
    edited_at: datetime | None
    hidden: bool
    hidden_reason: str | None
    hidden_leaf_id: int | None


class ThreadCommentOut(CommentOut):
    replies: list[CommentOut]


class ThreadOut(Schema):
    proposal: int
    discussion_url: str | None
    count: int
    items: list[ThreadCommentOut]


def _viewer(request: HttpRequest) -> Any:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        found = token_user(header[7:].strip())
        return found[0] if found else None
    return request.user


def _money(data: dict[str, Any]) -> dict[str, Any]:
    """Amounts as decimal strings (they exceed JSON's safe integers)."""
    return {
        **data,
        "balances": {a: str(v) for a, v in data["balances"].items()},
        "inflows": [{**r, "amount": str(r["amount"])} for r in data["inflows"]],
        "outflows": [{**r, "amount": str(r["amount"])} for r in data["outflows"]],
        "streams": [{**r, "amount_per_epoch": str(r["amount_per_epoch"])} for r in data["streams"]],
    }


@router.get(
    "/idaos/{slug}/treasury",
    response=TreasuryOut,
    errors=("not_found",),
    summary="An iDAO's treasury: balance, inflows by source, outflows by proposal or steward grant, streams",
)
def get_treasury(request: HttpRequest, slug: Slug) -> dict:
    return _money(selectors_treasury.treasury_get(selectors.idao_get(slug)))


@router.post(
    "/proposals/{proposal_id}/veto",
    auth=api_auth(scope=GOVERNANCE),
    response=VetoOut,
    errors=("not_found", "not_steward", "veto_not_allowed", "not_in_timelock", "invalid_input"),
    summary="Guardian veto: a steward cancels a passed treasury proposal in its timelock (if the charter allows)",
)
def veto_proposal(request: PortalRequest, proposal_id: int, body: VetoIn) -> dict:
    selectors.proposal_get(proposal_id, user=request.auth)
    p = treasury.proposal_veto(proposal_id=proposal_id, steward=request.auth, reason=body.reason)
    return {
        "id": p.pk,
        "state": p.state,
        "vetoed_by": request.auth.address,
        "veto_reason": p.veto_reason,
        "veto_leaf_id": p.veto_leaf_id,
    }


@router.put(
    "/proposals/{proposal_id}/discussion",
    auth=api_auth(scope=GOVERNANCE),
    response=DiscussionOut,
    errors=("not_found", "not_author", "invalid_input"),
    summary="The author links an external discussion (forum thread) to the proposal; empty removes it",
)
def set_discussion(request: PortalRequest, proposal_id: int, body: DiscussionIn) -> dict:
    selectors.proposal_get(proposal_id, user=request.auth)
    p = comments.discussion_url_set(proposal_id=proposal_id, author=request.auth, url=body.url)
    return {"id": p.pk, "discussion_url": p.discussion_url}


@router.get(
    "/proposals/{proposal_id}/comments",
    response=ThreadOut,
    errors=("not_found",),
    summary="A proposal's discussion: comments oldest first, each with its replies",
)
def list_comments(request: HttpRequest, proposal_id: int) -> dict:
    proposal = selectors.proposal_get(proposal_id, user=_viewer(request))
    items = selectors_treasury.comment_thread(proposal, _viewer(request))
    return {
        "proposal": proposal.pk,
        "discussion_url": proposal.discussion_url or None,
        "count": len(items) + sum(len(i["replies"]) for i in items),
        "items": items,
    }


def _out(comment: ProposalComment, request: PortalRequest) -> dict:
    return selectors_treasury.comment_dict(comment, sees_hidden=True, viewer_id=request.auth.pk)


@router.post(
    "/proposals/{proposal_id}/comments",
    auth=api_auth(scope=GOVERNANCE),
    response={201: CommentOut},
    errors=("not_found", "proposal_not_found", "comment_not_found", "not_member", "invalid_input", "rate_limited"),
    summary="A member comments on a proposal (Markdown; `parent` replies to a comment)",
)
def post_comment(request: PortalRequest, proposal_id: int, body: CommentIn) -> Status:
    selectors.proposal_get(proposal_id, user=request.auth)
    comment = comments.comment_post(proposal_id=proposal_id, author=request.auth, body=body.body, parent_id=body.parent)
    return Status(201, _out(comment, request))


@router.patch(
    "/comments/{comment_id}",
    auth=api_auth(scope=GOVERNANCE),
    response=CommentOut,
    errors=("comment_not_found", "not_author", "comment_not_editable", "invalid_input"),
    summary="The author edits a comment within 10 minutes of posting",
)
def edit_comment(request: PortalRequest, comment_id: int, body: CommentEditIn) -> dict:
    return _out(comments.comment_edit(comment_id=comment_id, author=request.auth, body=body.body), request)


@router.post(
    "/comments/{comment_id}/hide",
    auth=api_auth(scope=GOVERNANCE),
    response=CommentOut,
    errors=("comment_not_found", "not_steward", "invalid_input"),
    summary="A steward hides a comment with a published reason (anchored; staff still see it)",
)
def hide_comment(request: PortalRequest, comment_id: int, body: HideIn) -> dict:
    return _out(comments.comment_hide(comment_id=comment_id, steward=request.auth, reason=body.reason), request)
