"""What owners do with a minted DAT: change its policy within the charter, revoke it, transfer
it, add parents. Each is one transaction that appends a numbered DatEvent and anchors it.
(The `dat_policy_bounds` proposal action that sets the charter's bounds is in charter.py.)"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger import services as ledger
from portal.errors import DomainError, Forbidden, NotFound
from portal.events import emit
from portal.models import User, checksum

from .. import policies
from ..lineage import check_parents, clean_parent_ids
from ..models import DAT, DatEvent, DatParent, EventKind
from ..policies import bounds_of, policy_of

EVENT_LEAF_KIND = "dat.event"


class NotOwner(Forbidden):
    code = "not_dat_owner"


class InvalidTransfer(DomainError):
    code = "invalid_transfer"
    status = 422


def _locked(dat_id: int, actor: User) -> DAT:
    dat = DAT.objects.select_for_update().select_related("owner", "idao").filter(pk=dat_id).first()
    if dat is None:
        raise NotFound(f"There is no DAT #{dat_id}.", code="dat_not_found")
    if dat.owner_id != actor.pk:
        raise NotOwner(f"Only the owner of DAT #{dat_id} ({dat.owner.address}) may do this.")
    return dat


def _append(dat: DAT, *, kind: str, actor: User | None, body: dict[str, Any]) -> DatEvent:
    seq = (DatEvent.objects.filter(dat=dat).order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    payload = {"tokenId": dat.pk, "seq": seq, "kind": kind, "by": actor.address if actor else None, **body}
    leaf = ledger.anchor(kind=EVENT_LEAF_KIND, subject=f"dat:{dat.pk}:{seq}", payload=payload)
    emit(
        kind="dat.revoked"
        if (body.get("policy") or {}).get("revoked")
        else {"policy": "dat.policy_changed", "transfer": "dat.transferred"}.get(kind, "dat.parents_added"),
        idao=dat.idao_id,
        subject=f"dat:{dat.pk}",
        actor=actor,
        # a transfer tells the previous owner (dat.owner here) and the new one
        recipients=[dat.owner_id, *(User.objects.filter(address=body["to"]) if kind == EventKind.TRANSFER else [])],
        payload={"title": dat.title, "seq": seq},
    )
    return DatEvent.objects.create(dat=dat, seq=seq, kind=kind, payload=payload, actor=actor, anchor_leaf_id=leaf.pk)


def _set_policy(dat: DAT, policy: policies.Policy, *, actor: User | None) -> DatEvent:
    version = dat.policy_version + 1
    DAT.objects.filter(pk=dat.pk).update(
        allowed_uses=list(policy.allowed_uses),
        price_credit=policy.price_credit,
        quota=policy.quota,
        expires_at=policy.expires_at,
        revoked_at=dat.revoked_at or (timezone.now() if policy.revoked else None),
        policy_version=version,
    )
    return _append(dat, kind=EventKind.POLICY, actor=actor, body={"version": version, "policy": policy.as_json()})


def dat_policy_change(*, dat_id: int, actor: User, changes: dict[str, Any]) -> DatEvent:
    """Change allowed uses, price, quota or expiry within the iDAO's charter bounds."""
    with transaction.atomic():
        dat = _locked(dat_id, actor)
        if dat.revoked_at is not None:
            raise DomainError(
                f"DAT #{dat_id}'s policy is revoked and can no longer change.", code="dat_revoked", status=403
            )
        policy = policies.clean_policy(changes, now=timezone.now(), base=policy_of(dat))
        if policy.quota is not None and policy.quota < dat.used:
            raise policies.InvalidPolicy(f"The quota cannot be below the {dat.used} use(s) already granted.")
        policies.check_bounds(policy, bounds_of(dat.idao_id))
        if policy == policy_of(dat):
            raise policies.InvalidPolicy("This is already the DAT's policy.", code="policy_unchanged")
        return _set_policy(dat, policy, actor=actor)


def dat_revoke(*, dat_id: int, actor: User) -> DatEvent:
    """Revoke the policy: no new access grant from now on (grants already made stand)."""
    with transaction.atomic():
        dat = _locked(dat_id, actor)
        if dat.revoked_at is not None:
            raise DomainError(f"DAT #{dat_id} is already revoked.", code="dat_revoked", status=403)
        current = policy_of(dat)
        revoked = policies.Policy(
            allowed_uses=current.allowed_uses,
            price_credit=current.price_credit,
            quota=current.quota,
            expires_at=current.expires_at,
            revoked=True,
        )
        return _set_policy(dat, revoked, actor=actor)


def dat_transfer(*, dat_id: int, actor: User, to_address: str) -> DatEvent:
    """Give the DAT to another address (created as a portal user if new)."""
    try:
        to = checksum(to_address)
    except ValueError as exc:
        raise InvalidTransfer(str(exc)) from None
    with transaction.atomic():
        dat = _locked(dat_id, actor)
        if to == dat.owner.address:
            raise InvalidTransfer(f"{to} already owns DAT #{dat_id}.")
        recipient, _ = User.objects.get_or_create(address=to)
        DAT.objects.filter(pk=dat.pk).update(owner=recipient)
        return _append(dat, kind=EventKind.TRANSFER, actor=actor, body={"from": dat.owner.address, "to": to})


def dat_parents_add(*, dat_id: int, actor: User, parent_ids: Any) -> DatEvent:
    """Declare more DATs this one was derived from; they must exist and form no cycle."""
    ids = clean_parent_ids(parent_ids)
    if not ids:
        raise DomainError("Name at least one parent.", code="unknown_parent", status=422)
    with transaction.atomic():
        dat = _locked(dat_id, actor)
        check_parents(ids, child_id=dat.pk)
        have = set(DatParent.objects.filter(child=dat).values_list("parent_id", flat=True))
        added = [p for p in ids if p not in have]
        if not added:
            raise DomainError("Those DATs are already its parents.", code="parents_unchanged", status=409)
        DatParent.objects.bulk_create([DatParent(child=dat, parent_id=p) for p in added])
        return _append(
            dat, kind=EventKind.PARENTS, actor=actor, body={"added": added, "parents": sorted(have | set(added))}
        )
