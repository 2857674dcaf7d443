"""Reads of DATs shaped for the explorer, the API and downstream apps (rewards)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from idaos.models import IDAO, AIModel, ModelVersion
from portal.errors import DomainError, NotFound
from portal.models import User

from . import policies
from .hooks import challenge_window_ends
from .models import DAT, AccessGrant, DatClass, DatEvent, EventKind
from .policies import policy_of

__all__ = ["dat_for_ref", "dat_get", "dat_page", "manifest_of", "policy_history"]

PAGE_SIZE = 25
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})$")


class InvalidFilter(DomainError):
    code = "invalid_filter"
    status = 422


@dataclass(frozen=True)
class Filters:
    idao: str = ""
    klass: str = ""
    owner: str = ""
    hash: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, params: Any) -> Filters:
        def day(name: str) -> date | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise InvalidFilter(f"{name} is a date like 2026-11-25.") from None

        klass = (params.get("klass") or params.get("class") or "").strip()
        if klass and klass not in DatClass.values:
            raise InvalidFilter(f"class is one of {', '.join(DatClass.values)}.")
        content_hash = (params.get("hash") or "").strip()
        if content_hash and not _HASH.match(content_hash):
            raise InvalidFilter("hash is 0x followed by 64 hex digits (SHA-256 or keccak-256).")
        return cls(
            idao=(params.get("idao") or "").strip()[:60],
            klass=klass,
            owner=(params.get("owner") or "").strip()[:42],
            hash=content_hash.lower(),
            since=day("since"),
            until=day("until"),
        )

    def as_query(self) -> dict[str, str]:
        out = {
            "idao": self.idao,
            "klass": self.klass,
            "owner": self.owner,
            "hash": self.hash,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Page:
    rows: list[DAT]
    next_cursor: str | None


def _cursor_of(dat: DAT) -> str:
    micros = int(dat.minted_at.timestamp() * 1_000_000) if dat.minted_at else 0
    return f"{micros}.{dat.pk}"


def filtered(filters: Filters):
    """The filtered queryset; a filter naming nothing that exists yields no rows (without a scan)."""
    qs = DAT.objects.all()
    if filters.idao:
        idao_id = IDAO.objects.filter(slug=filters.idao).values_list("pk", flat=True).first()
        qs = qs.filter(idao_id=idao_id) if idao_id else qs.none()
    if filters.owner:
        user_id = User.objects.filter(address__iexact=filters.owner).values_list("pk", flat=True).first()
        qs = qs.filter(owner_id=user_id) if user_id else qs.none()
    if filters.klass:
        qs = qs.filter(klass=filters.klass)
    if filters.hash:
        qs = qs.filter(Q(sha256=filters.hash) | Q(keccak256=filters.hash))
    if filters.since:
        qs = qs.filter(minted_at__gte=datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until and filters.until < date.max:  # no upper bound at the last representable day
        qs = qs.filter(minted_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC))
    return qs


def dat_page(filters: Filters, *, cursor: str = "", limit: int = PAGE_SIZE) -> Page:
    """One page, newest first, by keyset on (minted_at, id): the cost of page 1,000 is the cost
    of page 1, and the query count is fixed (≤ 2 look-ups for the filters + 1 for the rows)."""
    limit = max(1, min(limit, 100))
    qs = filtered(filters)
    if cursor:
        match = _CURSOR.match(cursor)
        if not match:
            raise InvalidFilter("The page cursor is malformed; start again from the first page.")
        at = datetime.fromtimestamp(int(match[1]) / 1_000_000, tz=UTC)
        # `minted_at <= t` bounds the index scan; the OR only drops ties already shown.
        qs = qs.filter(minted_at__lte=at).filter(Q(minted_at__lt=at) | Q(id__lt=int(match[2])))
    rows = list(qs.select_related("idao", "owner").order_by("-minted_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows=rows, next_cursor=_cursor_of(rows[-1]) if more and rows else None)


def dat_get(dat_id: int) -> DAT:
    dat = (
        DAT.objects.select_related("idao", "owner", "round", "round__quorum", "contribution").filter(pk=dat_id).first()
    )
    if dat is None:
        raise NotFound(f"There is no DAT #{dat_id}.", code="dat_not_found")
    return dat


def dat_dict(dat: DAT, *, parents: list[int] | None = None) -> dict[str, Any]:
    return {
        "tokenId": dat.pk,
        "class": dat.klass,
        "title": dat.title,
        "owner": dat.owner.address,
        "idao": dat.idao.slug,
        "sha256": dat.sha256,
        "keccak256": dat.keccak256,
        "size": dat.size,
        "round": dat.round_id,
        "parents": parents,
        "policy": policy_of(dat).as_json(),
        "used": dat.used,
        "policyVersion": dat.policy_version,
        "anchorLeafId": dat.anchor_leaf_id,
        "mintedAt": dat.minted_at.isoformat(),
        "minhash": dat.minhash,
        "scores": dat.scores,
        "status": dat.status,
        "url": f"/dats/{dat.pk}/",
        "bundle": f"/dats/{dat.pk}/bundle.json",
    }


MINHASH_PAGE = 500


def minhash_page(*, after: str | None, limit: int = MINHASH_PAGE) -> dict[str, Any]:
    """GET /api/v1/minhashes: published signatures in the order they were stored, from the opaque
    cursor `after` (the last item's position); `next` is null when the page is empty."""
    from .minhash import PUBLISHED_SCHEME

    start = int(after) if after and after.isdigit() else 0
    limit = max(1, min(int(limit), MINHASH_PAGE))
    rows = list(
        DAT.objects.filter(minhash_seq__gt=start)
        .order_by("minhash_seq")
        .values_list("pk", "sha256", "owner__address", "minted_at", "minhash", "minhash_seq")[:limit]
    )
    items = [
        {
            "dat": str(pk),
            "content_hash": sha256,
            "owner": owner,
            "accepted_at": minted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "minhash": minhash,
        }
        for pk, sha256, owner, minted_at, minhash, _seq in rows
    ]
    return {
        "scheme": PUBLISHED_SCHEME,
        "items": items,
        # The last item's position, so a caller resumes after it; null once nothing is left.
        "next": str(rows[-1][5]) if rows else None,
    }


def policy_history(dat: DAT) -> list[dict[str, Any]]:
    """Version 1 (as minted, from the anchored mint record) then every anchored change."""
    from ledger.models import Leaf

    minted = Leaf.objects.filter(pk=dat.anchor_leaf_id).values_list("payload_json", flat=True).first()
    history = []
    if minted:
        history.append(
            {
                "version": 1,
                "policy": json.loads(minted)["policy"],
                "at": dat.minted_at,
                "by": None,
                "leaf": dat.anchor_leaf_id,
            }
        )
    for event in DatEvent.objects.filter(dat=dat, kind=EventKind.POLICY).order_by("seq"):
        history.append(
            {
                "version": event.payload["version"],
                "policy": event.payload["policy"],
                "at": event.created_at,
                "by": event.payload.get("by"),
                "leaf": event.anchor_leaf_id,
            }
        )
    return history


def usage_of(dat: DAT) -> dict[str, Any]:
    totals = AccessGrant.objects.filter(dat=dat).aggregate(
        grants=Count("id"), fees=Sum("fee"), owner=Sum("owner_share"), idao=Sum("idao_share")
    )
    return {k: int(v or 0) for k, v in totals.items()}


def manifest_of(model_id: int, *, version: int | None = None) -> dict[str, Any]:
    """The approved data of a model version (current unless named), each entry resolved to its DAT
    with content hashes, and flagged when the DAT's policy no longer allows training."""
    model = AIModel.objects.select_related("idao").filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"There is no model {model_id}.", code="model_not_found")
    versions = ModelVersion.objects.filter(model=model)
    mv = versions.filter(number=version).first() if version else versions.filter(current=True).first()
    if mv is None:
        raise NotFound(
            f"Model {model_id} has no {'version ' + str(version) if version else 'current version'}.",
            code="version_not_found",
        )
    entries = []
    for entry in mv.manifest.order_by("added_at", "id"):
        dat = dat_for_ref(entry.data_ref)
        row: dict[str, Any] = {"ref": entry.data_ref, "proposal": entry.added_by_proposal_id}
        if dat is None:
            row.update(
                {
                    "tokenId": None,
                    "sha256": entry.data_ref if entry.data_ref.startswith("0x") else None,
                    "keccak256": None,
                    "size": None,
                    "trainingAllowed": None,
                    "flag": "no DAT for this reference",
                }
            )
        else:
            problem = training_problem(dat)
            row.update(
                {
                    "tokenId": dat.pk,
                    "title": dat.title,
                    "sha256": dat.sha256,
                    "keccak256": dat.keccak256,
                    "size": dat.size,
                    "trainingAllowed": problem is None,
                    "flag": problem,
                    "file": f"/api/v1/dats/{dat.pk}/file",
                    "access": f"/api/v1/dats/{dat.pk}/access",
                }
            )
        entries.append(row)
    return {
        "model": model.pk,
        "name": model.name,
        "idao": model.idao.slug,
        "version": mv.number,
        "artifactHash": mv.artifact_hash,
        "current": mv.current,
        "entries": entries,
        "flagged": any(e["trainingAllowed"] is False for e in entries),
    }


def dats_of_owner(user: User, *, limit: int = 50) -> list[DAT]:
    return list(DAT.objects.filter(owner=user).select_related("idao").order_by("-minted_at", "-id")[:limit])


def valid_grant(*, dat: DAT, user: Any, now: datetime | None = None) -> AccessGrant | None:
    """A grant of this user for this DAT that has not run out (it lets them download the file)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return AccessGrant.objects.filter(dat=dat, user=user, valid_until__gt=now or timezone.now()).order_by("-id").first()


def dat_for_ref(data_ref: str) -> DAT | None:
    """`dat:<id>` names a DAT; a 0x content hash finds the DAT with that SHA-256 or keccak-256."""
    if not isinstance(data_ref, str):
        return None
    if data_ref.startswith("dat:"):
        try:
            return DAT.objects.filter(pk=int(data_ref[4:])).first()
        except ValueError:
            return None
    value = data_ref.lower()
    return (
        DAT.objects.filter(sha256=value).order_by("id").first()
        or DAT.objects.filter(keccak256=value).order_by("id").first()
    )


def training_problem(dat: DAT, *, purpose: str = "training", now: datetime | None = None) -> str | None:
    """Why this DAT may not be trained on now (None if it may)."""
    decision = policies.decide(policy_of(dat), use=purpose, used=0, now=now or timezone.now(), balance=10**40)
    return None if decision.allowed else decision.detail


def challenge_panel(dat: DAT) -> dict[str, Any]:
    """What the DAT page says about challenges: the open or latest challenge, and whether (and
    for how long, by database time) one can be filed now, with the bond."""
    from django.db.models.functions import Now

    from .models import Challenge

    latest = dat.challenges.order_by("-pk").first()
    quorum = dat.round.quorum
    now = DAT.objects.filter(pk=dat.pk).annotate(db_now=Now()).values_list("db_now", flat=True).first()
    ends = challenge_window_ends([dat])[dat.pk]
    left = int((ends - now).total_seconds()) if now else 0
    can = dat.revoked_at is None and dat.contested_at is None and left > 0
    return {
        "latest": latest,
        "open": latest is not None and latest.state == Challenge.State.OPEN,
        "can": can,
        "ends": ends,
        "hours_left": max(0, left) // 3600,
        "minutes_left": max(0, left) // 60,
        "bond": int(quorum.appeal_bond),
        "asset": quorum.appeal_bond_asset,
        "reasons": Challenge.Reason.values,
    }


PICKER_LIMIT = 12


def dat_picker(q: str, *, exclude: int | None = None, limit: int = PICKER_LIMIT) -> list[DAT]:
    """DATs for a lineage picker, as a person types: `12`, `#12` or `dat:12` finds that DAT; other
    text searches titles (case-insensitive). Newest first; empty text lists the newest."""
    q = (q or "").strip()[:120]
    qs = DAT.objects.select_related("idao").order_by("-id")
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    number = q.removeprefix("dat:").removeprefix("#")
    if number.isdigit() and len(number) < 19:
        qs = qs.filter(pk=int(number))
    elif q:
        qs = qs.filter(title__icontains=q)
    return list(qs[:limit])
