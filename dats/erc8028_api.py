"""ERC-8028-shaped reads for indexers (docs/dats.md "ERC-8028"): classes and tokens answer the
fields the DataAnchoringToken contract's views do, from the portal (no chain needed), and a
cursor-paged event feed follows DATs with the portal's own ids."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from portal.errors import NotFound

from . import erc8028
from .models import DAT

router = Router(tags=["erc8028"])


class ErrorOut(Schema):
    error: str
    detail: str


class ClassOut(Schema):
    classId: int
    name: str
    metadataURI: str
    integrityHash: str
    policyURI: str


class TokenOut(Schema):
    tokenId: int
    owner: str
    classId: int
    value: str
    shareRatio: int
    expireAt: int
    used: int
    integrityHash: str
    policyURI: str
    revoked: bool


class EventsOut(Schema):
    events: list[dict]
    next: int | None


class FeedIn(Schema):
    after: int = Field(0, ge=0, description="the cursor of the last event already read")
    limit: int = Field(100, ge=1, le=500)


def _dat(token_id: int) -> DAT:
    dat = DAT.objects.select_related("owner", "idao").filter(pk=token_id).first()
    if dat is None:
        raise NotFound(f"There is no DAT #{token_id}.", code="dat_not_found")
    return dat


@router.get(
    "/classes/{class_id}", response={200: ClassOut, 404: ErrorOut, 422: ErrorOut}, summary="An ERC-8028 asset class"
)
def erc8028_class(request: HttpRequest, class_id: int):
    parts = erc8028.class_parts(class_id)
    dat = DAT.objects.select_related("idao").filter(idao_id=parts[0], klass=parts[1]).first() if parts else None
    if dat is None:
        raise NotFound(f"There is no ERC-8028 class {class_id}.", code="class_not_found")
    return erc8028.class_view(class_id=class_id, idao_slug=dat.idao.slug, klass=dat.klass)


@router.get(
    "/tokens/{dat_id}", response={200: TokenOut, 404: ErrorOut, 422: ErrorOut}, summary="A DAT as an ERC-8028 token"
)
def erc8028_token(request: HttpRequest, dat_id: int):
    return erc8028.token_view(_dat(dat_id))


@router.get(
    "/tokens/{dat_id}/policy",
    response={200: dict, 404: ErrorOut, 422: ErrorOut},
    summary="The policy its policyURI names",
)
def erc8028_policy(request: HttpRequest, dat_id: int):
    return HttpResponse(erc8028.policy_document(_dat(dat_id)), content_type="application/json")


@router.get(
    "/events",
    response={200: EventsOut, 422: ErrorOut},
    summary="ERC-8028 events (Minted, TransferToken, …), cursor-paged",
)
def erc8028_events(request: HttpRequest, q: Query[FeedIn]):
    return erc8028.event_feed(after=q.after, limit=q.limit)
