"""DATs over the JSON API: search, records, provenance bundles, access grants, granted file
downloads and model manifests, mounted under /api/v1 by portal/api.py."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest
from ninja import Router, Schema, Status

from contributions.models import Contribution
from portal.auth import api_auth
from portal.errors import Forbidden, NotFound

from . import bundles, selectors, services
from .models import DatParent
from .services.grants import AccessResult

router = Router(tags=["dats"])
TAGS = ["dats"]


class ErrorOut(Schema):
    error: str
    detail: str


class AccessIn(Schema):
    use: str
    idempotency_key: str | None = None


class PolicyIn(Schema):
    allowed_uses: list[str] | None = None
    price_credit: int | None = None
    quota: int | None = None
    expires_at: str | None = None


class TransferIn(Schema):
    to: str


class ParentsIn(Schema):
    parents: list[int]


def _grant_dict(result: AccessResult) -> dict:
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


@router.get(
    "/dats", tags=TAGS, summary="Search DATs (filters: idao, klass, owner, hash, since, until; keyset cursor `after`)"
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
    limit: int = 25,
):
    filters = selectors.Filters.parse(
        {"idao": idao, "klass": klass, "owner": owner, "hash": hash, "since": since, "until": until}
    )
    page = selectors.dat_page(filters, cursor=after, limit=limit)
    return {"results": [selectors.dat_dict(d) for d in page.rows], "next": page.next_cursor}


@router.get("/dats/{dat_id}", tags=TAGS, summary="One DAT with its parents and current policy")
def dat_one(request: HttpRequest, dat_id: int):
    dat = selectors.dat_get(dat_id)
    parents = sorted(DatParent.objects.filter(child=dat).values_list("parent_id", flat=True))
    return selectors.dat_dict(dat, parents=parents)


@router.get(
    "/dats/{dat_id}/bundle", tags=TAGS, summary="The provenance bundle (verify offline with manage.py verify_bundle)"
)
def dat_bundle(request: HttpRequest, dat_id: int):
    return bundles.export(dat_id)


@router.get(
    "/dats/{dat_id}/verify", tags=TAGS, summary="Export the bundle and verify it on the server; says what was checked"
)
def dat_verify(request: HttpRequest, dat_id: int):
    try:
        report = bundles.verify(bundles.export(dat_id))
    except bundles.InvalidBundle as exc:
        return {"valid": False, "problem": str(exc), "checks": []}
    return {"valid": True, "checks": report.checks, "head": report.head}


@router.post(
    "/dats/{dat_id}/access",
    tags=TAGS,
    auth=api_auth,
    response={200: dict, 201: dict, 402: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Ask for access to a DAT for one use (bearer token with the dats:access scope; send an Idempotency-Key)",
)
def dat_access(request: HttpRequest, dat_id: int, body: AccessIn):
    key = request.headers.get("Idempotency-Key") or body.idempotency_key or ""
    result = services.access_request(
        dat_id=dat_id, token=getattr(request, "api_token", None), use=body.use, idempotency_key=key
    )
    return Status(200 if result.replayed else 201, _grant_dict(result))


@router.get("/dats/{dat_id}/file", tags=TAGS, auth=api_auth, summary="Download a DAT's file with a valid access grant")
def dat_file(request: HttpRequest, dat_id: int):
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
    summary="The approved DATs of a model version (current or ?version=N) with content hashes",
)
def model_manifest(request: HttpRequest, model_id: int, version: int | None = None):
    return selectors.manifest_of(model_id, version=version)


@router.post(
    "/dats/{dat_id}/policy", tags=TAGS, auth=api_auth, summary="Change a DAT's policy within the charter (owner)"
)
def dat_policy(request: HttpRequest, dat_id: int, body: PolicyIn):
    changes = {k: v for k, v in body.dict().items() if k in body.model_fields_set}
    event = services.dat_policy_change(dat_id=dat_id, actor=request.auth, changes=changes)
    return {"seq": event.seq, "anchorLeafId": event.anchor_leaf_id, **event.payload}


@router.post("/dats/{dat_id}/revoke", tags=TAGS, auth=api_auth, summary="Revoke a DAT's policy (owner)")
def dat_revoke(request: HttpRequest, dat_id: int):
    event = services.dat_revoke(dat_id=dat_id, actor=request.auth)
    return {"seq": event.seq, "anchorLeafId": event.anchor_leaf_id, **event.payload}


@router.post("/dats/{dat_id}/transfer", tags=TAGS, auth=api_auth, summary="Transfer a DAT to another address (owner)")
def dat_transfer(request: HttpRequest, dat_id: int, body: TransferIn):
    event = services.dat_transfer(dat_id=dat_id, actor=request.auth, to_address=body.to)
    return {"seq": event.seq, "anchorLeafId": event.anchor_leaf_id, **event.payload}


@router.post(
    "/dats/{dat_id}/parents", tags=TAGS, auth=api_auth, summary="Add parents a DAT was derived from (owner; no cycles)"
)
def dat_parents(request: HttpRequest, dat_id: int, body: ParentsIn):
    event = services.dat_parents_add(dat_id=dat_id, actor=request.auth, parent_ids=body.parents)
    return {"seq": event.seq, "anchorLeafId": event.anchor_leaf_id, **event.payload}


@router.post(
    "/contributions/{public_id}/parents",
    tags=TAGS,
    auth=api_auth,
    summary="Declare the DATs a contribution was derived from (its contributor, before its DAT is minted)",
)
def contribution_parents(request: HttpRequest, public_id: str, body: ParentsIn):
    contribution = Contribution.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if contribution is None:
        raise NotFound("You have no such contribution.", code="contribution_not_found")
    row = services.lineage_declare(contribution_id=contribution, parent_ids=body.parents, actor=request.auth)
    return {"contribution": public_id, "parents": row.parent_ids}


@router.get("/minhashes", tags=TAGS, auth=None, summary="MinHash signatures of accepted content, for validator nodes")
def minhashes(request: HttpRequest, after: str | None = None) -> dict:
    """Every accepted DAT's MinHash signature (docs/validator.md), in the order published, 500 a
    page from the opaque cursor `after`; `next` is the last item's position (null: nothing after `after`)."""
    return selectors.minhash_page(after=after)
