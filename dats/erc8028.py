"""DATs in ERC-8028's shape (docs/dats.md "ERC-8028"): the same fields the DataAnchoringToken
contract's views answer, computed from the portal (the source of truth), and the event feed.

- class id = iDAO id × 4 + (1 dataset, 2 model, 3 agent); name `<iDAO slug>/<class>`;
  integrityHash = keccak256(canonical JSON {"idao", "class"}); metadataURI and policyURI point
  at this API.
- token id = the DAT id; value = the quota (2**256 - 1 for no limit); shareRatio = the owner's
  share of each fee in basis points (the iDAO's split_contributors_bps); expireAt = Unix seconds
  (0: never); integrityHash = the content keccak-256; policyURI = the policy's canonical JSON URL
  (`/api/v1/erc8028/tokens/<id>/policy?version=<n>`); used = grants made; revoked."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ledger import merkle

from .models import DAT, AccessGrant, DatClass, DatEvent
from .policies import policy_of

CLASS_CODES = {DatClass.DATASET: 1, DatClass.MODEL: 2, DatClass.AGENT: 3}
NO_LIMIT = 2**256 - 1


def _base() -> str:
    return str(getattr(settings, "DATS_ERC8028_BASE_URL", "") or "").rstrip("/")


def class_id_of(idao_id: int, klass: str) -> int:
    return int(idao_id) * 4 + CLASS_CODES[DatClass(klass)]


def class_parts(class_id: int) -> tuple[int, str] | None:
    idao_id, code = divmod(int(class_id), 4)
    klass = {v: k for k, v in CLASS_CODES.items()}.get(code)
    return (idao_id, str(klass)) if klass and idao_id > 0 else None


def class_view(*, class_id: int, idao_slug: str, klass: str) -> dict[str, Any]:
    return {
        "classId": class_id,
        "name": f"{idao_slug}/{klass}",
        "metadataURI": f"{_base()}/api/v1/erc8028/classes/{class_id}",
        "integrityHash": merkle.to_hex(
            merkle.keccak(merkle.canonical_json({"class": klass, "idao": idao_slug}).encode())
        ),
        "policyURI": f"{_base()}/idaos/{idao_slug}/",
    }


def policy_document(dat: DAT) -> str:
    """The canonical JSON of a DAT's current policy: what its policyURI serves."""
    return merkle.canonical_json({"tokenId": dat.pk, "version": dat.policy_version, "policy": policy_of(dat).as_json()})


def token_view(dat: DAT) -> dict[str, Any]:
    """`dat` with owner and idao loaded: the fields ownerOf, classOf, valueOf, … answer."""
    return {
        "tokenId": dat.pk,
        "owner": dat.owner.address,
        "classId": class_id_of(dat.idao_id, dat.klass),
        "value": str(NO_LIMIT if dat.quota is None else dat.quota),
        "shareRatio": int(dat.idao.split_contributors_bps),
        "expireAt": int(dat.expires_at.timestamp()) if dat.expires_at else 0,
        "used": int(dat.used),
        "integrityHash": dat.keccak256,
        "policyURI": f"{_base()}/api/v1/erc8028/tokens/{dat.pk}/policy?version={dat.policy_version}",
        "revoked": dat.revoked_at is not None,
    }


def event_feed(*, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """ERC-8028 events from portal records, in anchoring order (the cursor is the ledger leaf id
    that anchored each record): Minted, TransferToken, PolicyUpdated, Revoked, UsageRecorded."""
    limit = max(1, min(int(limit), 500))
    items: list[tuple[int, dict[str, Any]]] = []
    for dat in (
        DAT.objects.filter(anchor_leaf_id__gt=after).select_related("owner", "idao").order_by("anchor_leaf_id")[:limit]
    ):
        view = token_view(dat)
        items.append(
            (
                dat.anchor_leaf_id,
                {
                    "event": "Minted",
                    "tokenId": dat.pk,
                    "to": view["owner"],
                    "classId": view["classId"],
                    "value": view["value"],
                    "shareRatio": view["shareRatio"],
                    "expireAt": view["expireAt"],
                },
            )
        )
    for ev in DatEvent.objects.filter(anchor_leaf_id__gt=after).order_by("anchor_leaf_id")[:limit]:
        body = ev.payload or {}
        if ev.kind == "transfer":
            items.append(
                (
                    ev.anchor_leaf_id,
                    {"event": "TransferToken", "tokenId": ev.dat_id, "from": body.get("from"), "to": body.get("to")},
                )
            )
        elif ev.kind == "policy":
            policy = body.get("policy") or {}
            name = "Revoked" if policy.get("revoked") else "PolicyUpdated"
            items.append((ev.anchor_leaf_id, {"event": name, "tokenId": ev.dat_id, "version": body.get("version")}))
    for grant in AccessGrant.objects.filter(anchor_leaf_id__gt=after).order_by("anchor_leaf_id")[:limit]:
        if grant.anchor_leaf_id is None:  # excluded by the filter
            continue
        items.append(
            (
                grant.anchor_leaf_id,
                {"event": "UsageRecorded", "tokenId": grant.dat_id, "amount": 1, "grantId": grant.pk, "use": grant.use},
            )
        )
    items.sort(key=lambda item: item[0])
    page = items[:limit]
    events = [{"cursor": leaf, **body} for leaf, body in page]
    return {"events": events, "next": page[-1][0] if len(page) == limit else None}
