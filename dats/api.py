"""DATs over the JSON API: search, records, provenance bundles, access grants, granted file
downloads and model manifests, mounted under /api/v1 by portal/api.py. The /dats/<id>/bundle.json
page is an alias of GET /api/v1/dats/{dat_id}/bundle (dats.views.dat_bundle calls bundle_of)."""

from __future__ import annotations

from typing import Annotated, Any

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import Status
from pydantic import Field

from contributions.models import Contribution
from ledger.errors import LeafNotSealed
from portal.auth import api_auth
from portal.errors import Forbidden, NotFound
from portal.http import PortalRequest
from portal.routers import PortalRouter
from portal.schemas import Id, Limit

from . import bundles, selectors, services
from .models import DatEvent, DatParent
from .schemas import (
    AccessGrantOut,
    BundleOut,
    BundleVerifyOut,
    ChallengeIn,
    ChallengeOut,
    DatAccessIn,
    DatOut,
    DatPageOut,
    DatPolicyIn,
    DatTransferIn,
    LineageOut,
    ManifestOut,
    MinhashPageOut,
    ParentsEventOut,
    ParentsIn,
    PolicyEventOut,
    TransferEventOut,
)
from .services import challenges
from .services.grants import AccessResult

router = PortalRouter(tags=["dats"])
TAGS = ["dats"]
ACCESS = "dats:access"  # ask for access grants and download granted files
MANAGE = "dats:manage"  # change, revoke and transfer DATs you own, declare their parents
CONTRIBUTE = "contributions:write"
OWNER_ERRORS = ("dat_not_found", "not_dat_owner")
ACCESS_DENIALS = ("dat_revoked", "dat_expired", "use_not_allowed", "quota_exhausted", "insufficient_credit")


def _grant_dict(result: AccessResult) -> dict[str, Any]:
    g = result.grant
    return {
        "grant": g.pk,
        "tokenId": g.dat_id,
        "use": g.use,
        "fee": str(g.fee),
        "ownerShare": str(g.owner_share),
        "idaoShare": str(g.idao_share),
        "payer": g.payer,
        "ledgerTransaction": g.ledger_transaction_id,
        "anchorLeafId": g.anchor_leaf_id,
        "validUntil": g.valid_until.isoformat(),
        "replayed": result.replayed,
        "file": f"/api/v1/dats/{g.dat_id}/file",
    }


def _event_dict(event: DatEvent) -> dict[str, Any]:
    return {"seq": event.seq, "anchorLeafId": event.anchor_leaf_id, **event.payload}


def bundle_of(dat_id: Id) -> BundleOut:
    """The provenance bundle, typed; LeafNotSealed (409, retry in a few seconds) while a record of
    the DAT waits for the next ledger block. The API operation and the bundle.json page share it."""
    try:
        return BundleOut.model_validate(bundles.export(dat_id))
    except LeafNotSealed:
        raise LeafNotSealed(
            "A record of this DAT is waiting for the next ledger block; try again in a few seconds."
        ) from None


@router.get(
    "/dats",
    tags=TAGS,
    response={200: DatPageOut},
    errors=("invalid_filter",),
    by_alias=True,
    summary="Search DATs (filters: idao, klass, owner, hash, since, until; keyset cursor `after`)",
)
def dat_search(
    request: HttpRequest,
    idao: str = "",
    klass: str = "",
    owner: str = "",
    hash: str = "",
    since: str = "",
    until: str = "",
    after: str = "",
    limit: Limit = selectors.PAGE_SIZE,
) -> dict[str, Any]:
    filters = selectors.Filters.parse(
        {"idao": idao, "klass": klass, "owner": owner, "hash": hash, "since": since, "until": until}
    )
    page = selectors.dat_page(filters, cursor=after, limit=limit)
    return {"results": [selectors.dat_dict(d) for d in page.rows], "next": page.next_cursor}


@router.get(
    "/dats/{dat_id}",
    tags=TAGS,
    response={200: DatOut},
    errors=("dat_not_found",),
    by_alias=True,
    summary="One DAT with its parents and current policy",
)
def dat_one(request: PortalRequest, dat_id: Id) -> dict[str, Any]:
    dat = selectors.dat_get(dat_id)
    parents = sorted(DatParent.objects.filter(child=dat).values_list("parent_id", flat=True))
    return selectors.dat_dict(dat, parents=parents)


@router.get(
    "/dats/{dat_id}/bundle",
    tags=TAGS,
    response={200: BundleOut},
    errors=("dat_not_found", "leaf_not_sealed"),
    exclude_unset=True,  # a proof's chainAnchor appears once its block is anchored on a chain
    summary="The provenance bundle (verify offline with manage.py verify_bundle; also at /dats/{id}/bundle.json)",
)
def dat_bundle(request: PortalRequest, dat_id: Id) -> BundleOut:
    return bundle_of(dat_id)


@router.get(
    "/dats/{dat_id}/verify",
    tags=TAGS,
    response={200: BundleVerifyOut},
    errors=("dat_not_found", "leaf_not_sealed"),
    exclude_unset=True,
    summary="Export the bundle and verify it on the server; says what was checked",
)
def dat_verify(request: PortalRequest, dat_id: Id) -> dict[str, Any]:
    try:
        report = bundles.verify(bundles.export(dat_id))
    except bundles.InvalidBundle as exc:
        return {"valid": False, "problem": str(exc), "checks": []}
    return {"valid": True, "checks": report.checks, "head": report.head}


@router.post(
    "/dats/{dat_id}/access",
    tags=TAGS,
    auth=api_auth(scope=ACCESS),
    response={200: AccessGrantOut, 201: AccessGrantOut},
    errors=(
        "dat_not_found",
        "token_required",
        "token_subject_forbidden",
        "invalid_idempotency_key",
        "invalid_use",
        "idempotency_key_reused",
        *ACCESS_DENIALS,
    ),
    summary="Ask for access to a DAT for one use (bearer token with the dats:access scope; send an Idempotency-Key)",
)
def dat_access(request: PortalRequest, dat_id: Id, body: DatAccessIn) -> Status:
    key = request.headers.get("Idempotency-Key") or body.idempotency_key or ""
    result = services.access_request(
        dat_id=dat_id, token=getattr(request, "api_token", None), use=body.use, idempotency_key=key
    )
    return Status(200 if result.replayed else 201, _grant_dict(result))


@router.get(
    "/dats/{dat_id}/file",
    tags=TAGS,
    auth=api_auth(scope=ACCESS),
    response={200: None},
    errors=("dat_not_found", "no_grant", "file_missing"),
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file (application/octet-stream) with X-Content-SHA256 and X-Content-Keccak256",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
    summary="Download a DAT's file with a valid access grant",
)
def dat_file(request: PortalRequest, dat_id: Id) -> FileResponse:
    dat = selectors.dat_get(dat_id)
    if selectors.valid_grant(dat=dat, user=request.auth) is None and dat.owner_id != request.auth.pk:
        raise Forbidden(
            f"You hold no valid access grant for DAT #{dat_id}; POST /api/v1/dats/{dat_id}/access first.",
            code="no_grant",
        )
    try:
        handle = default_storage.open(dat.contribution.storage_name, "rb")
    except FileNotFoundError:
        raise NotFound(f"DAT #{dat_id}'s file is not in storage.", code="file_missing") from None
    response = FileResponse(
        handle, as_attachment=True, filename=f"dat-{dat.pk}.bin", content_type="application/octet-stream"
    )
    response["X-Content-SHA256"] = dat.sha256
    response["X-Content-Keccak256"] = dat.keccak256
    return response


@router.get(
    "/models/{model_id}/manifest",
    tags=TAGS,
    url_name="model_manifest_json",
    response={200: ManifestOut},
    errors=("model_not_found", "version_not_found"),
    exclude_unset=True,
    summary="The approved DATs of a model version (current or ?version=N) with content hashes",
)
def model_manifest(request: PortalRequest, model_id: Id, version: Id | None = None) -> dict[str, Any]:
    return selectors.manifest_of(model_id, version=version)


@router.post(
    "/dats/{dat_id}/policy",
    tags=TAGS,
    auth=api_auth(scope=MANAGE),
    response={200: PolicyEventOut},
    errors=(*OWNER_ERRORS, "dat_revoked", "invalid_policy", "policy_unchanged", "policy_outside_charter"),
    summary="Change a DAT's policy within the charter (owner)",
)
def dat_policy(request: PortalRequest, dat_id: Id, body: DatPolicyIn) -> dict[str, Any]:
    changes = {k: v for k, v in body.dict().items() if k in body.model_fields_set}
    return _event_dict(services.dat_policy_change(dat_id=dat_id, actor=request.auth, changes=changes))


@router.post(
    "/dats/{dat_id}/revoke",
    tags=TAGS,
    auth=api_auth(scope=MANAGE),
    response={200: PolicyEventOut},
    errors=(*OWNER_ERRORS, "dat_revoked"),
    summary="Revoke a DAT's policy (owner)",
)
def dat_revoke(request: PortalRequest, dat_id: Id) -> dict[str, Any]:
    return _event_dict(services.dat_revoke(dat_id=dat_id, actor=request.auth))


@router.post(
    "/dats/{dat_id}/transfer",
    tags=TAGS,
    auth=api_auth(scope=MANAGE),
    response={200: TransferEventOut},
    errors=(*OWNER_ERRORS, "invalid_transfer"),
    by_alias=True,
    summary="Transfer a DAT to another address (owner)",
)
def dat_transfer(request: PortalRequest, dat_id: Id, body: DatTransferIn) -> dict[str, Any]:
    return _event_dict(services.dat_transfer(dat_id=dat_id, actor=request.auth, to_address=body.to))


@router.post(
    "/dats/{dat_id}/parents",
    tags=TAGS,
    auth=api_auth(scope=MANAGE),
    response={200: ParentsEventOut},
    errors=(*OWNER_ERRORS, "unknown_parent", "lineage_cycle", "parents_unchanged"),
    summary="Add parents a DAT was derived from (owner; no cycles)",
)
def dat_parents(request: PortalRequest, dat_id: Id, body: ParentsIn) -> dict[str, Any]:
    return _event_dict(services.dat_parents_add(dat_id=dat_id, actor=request.auth, parent_ids=body.parents))


@router.post(
    "/contributions/{public_id}/parents",
    tags=TAGS,
    auth=api_auth(scope=CONTRIBUTE),
    response={200: LineageOut},
    errors=("contribution_not_found", "already_minted", "unknown_parent", "lineage_cycle"),
    summary="Declare the DATs a contribution was derived from (its contributor, before its DAT is minted)",
)
def contribution_parents(request: PortalRequest, public_id: str, body: ParentsIn) -> dict[str, Any]:
    contribution = Contribution.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if contribution is None:
        raise NotFound("You have no such contribution.", code="contribution_not_found")
    row = services.lineage_declare(contribution_id=contribution, parent_ids=body.parents, actor=request.auth)
    return {"contribution": public_id, "parents": row.parent_ids}


@router.get(
    "/minhashes",
    tags=TAGS,
    auth=None,
    response=MinhashPageOut,
    summary="MinHash signatures of accepted content, for validator nodes",
)
def minhashes(
    request: PortalRequest, after: Annotated[str, Field(max_length=20, pattern=r"^[0-9]*$")] = ""
) -> HttpResponse:
    """Every accepted DAT's MinHash signature (docs/validator.md), in the order published, 500 a
    page from the opaque cursor `after`; `next` is the last item's position (null: nothing after `after`)."""
    # selectors.minhash_page builds the page exactly in the declared shape (MinhashPageOut: text,
    # text, text, text, 128 integers per item); rendered directly, because validating 64,000
    # integers again on the way out took more CPU than reading and encoding them
    # (tests/dats/test_minhash.py checks the shape).
    from portal.api import api

    return api.create_response(request, selectors.minhash_page(after=after), status=200)


def challenge_json(c: Any) -> dict[str, Any]:
    return {
        "id": c.pk,
        "dat": c.dat_id,
        "challenger": c.address,
        "reason_code": c.reason_code,
        "evidence": c.evidence,
        "duplicate_of": c.duplicate_of,
        "bond": int(c.bond),
        "bond_asset": c.bond_asset,
        "panel_round": c.panel_round_id,
        "state": c.state,
        "outcome": c.outcome,
        "anchor_leaf_id": c.anchor_leaf_id,
    }


@router.post(
    "/dats/{dat_id}/challenge",
    tags=TAGS,
    auth=api_auth(scope=ACCESS),
    response={201: ChallengeOut},
    errors=(
        "dat_not_found",
        "dat_revoked",
        "dat_contested",
        "challenge_window_closed",
        "appeal_panel_unavailable",
        "insufficient_funds",
        "invalid_input",
    ),
    summary="Challenge a DAT within its window (bond in escrow; a panel decides)",
)
def dat_challenge(request: PortalRequest, dat_id: Id, body: ChallengeIn) -> Status:
    """Anyone may challenge a minted DAT within its window with the quorum's bond, a reason code
    and evidence; the DAT is `contested` until a panel drawn disjoint from its round decides
    (docs/validation.md, "Challenges")."""
    c = challenges.challenge_file(
        dat_id=dat_id,
        user=request.auth,
        reason_code=body.reason_code,
        evidence=body.evidence,
        duplicate_of=body.duplicate_of,
    )
    return Status(201, challenge_json(c))


@router.get(
    "/dats/{dat_id}/challenges",
    tags=TAGS,
    auth=None,
    response={200: list[ChallengeOut]},
    errors=("dat_not_found",),
    summary="A DAT's challenges, newest first",
)
def dat_challenges(request: PortalRequest, dat_id: Id) -> list[dict[str, Any]]:
    dat = selectors.dat_get(dat_id)
    return [challenge_json(c) for c in dat.challenges.order_by("-pk")[:100]]
