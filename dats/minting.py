"""Minting: exactly one DAT per accepted validation round, in the round's closing transaction and
anchored with it. Registered on quorums' `on_round_accepted` hook from DatsConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger import services as ledger
from portal.errors import Conflict, NotFound
from portal.sql import update_by_pk
from quorums.models import Round

from . import policies
from .dat_models import DAT, DatClass, DatParent, DeclaredLineage, PolicyBounds
from .lineage import check_parents, clean_parent_ids
from .models import Contribution

log = logging.getLogger(__name__)
SUBJECT_KIND = "contribution"
MINT_LEAF_KIND = "dat.mint"
KLASS_OF_KIND = {
    "dataset": DatClass.DATASET,
    "model_weights": DatClass.MODEL,
    "model_update": DatClass.MODEL,
    "agent": DatClass.AGENT,
}


class RoundNotAccepted(Conflict):
    code = "round_not_accepted"


def bounds_of(idao_id: int) -> policies.Bounds:
    return _bounds_of_row(PolicyBounds.objects.filter(idao_id=idao_id).first())


def _bounds_many(idao_ids: set[int]) -> dict[int, policies.Bounds]:
    rows = {row.idao_id: row for row in PolicyBounds.objects.filter(idao_id__in=idao_ids)}
    return {idao_id: _bounds_of_row(rows.get(idao_id)) for idao_id in idao_ids}


def _bounds_of_row(row: PolicyBounds | None) -> policies.Bounds:
    if row is None:
        return policies.Bounds()
    return policies.Bounds(
        allowed_uses=tuple(u for u in policies.USES if u in row.allowed_uses),
        min_price_credit=row.min_price_credit,
        max_price_credit=row.max_price_credit,
    )


def policy_of(dat: DAT) -> policies.Policy:
    return policies.Policy(
        allowed_uses=tuple(dat.allowed_uses),
        price_credit=int(dat.price_credit),
        quota=dat.quota,
        expires_at=dat.expires_at,
        revoked=dat.revoked_at is not None,
    )


def _minted_policy(contribution: Contribution, *, now, bounds: policies.Bounds | None = None) -> policies.Policy:
    """The contributor's requested policy, brought inside the charter's bounds: uses the charter
    does not allow are dropped and the price is clamped (refusing would undo the round's close)."""
    raw = dict(contribution.usage_policy or {})
    raw = {
        k: v
        for k, v in raw.items()
        if k in {"allowed_uses", "price", "price_credit", "quota", "expiry_days", "expires_at"}
    }
    try:
        requested = policies.clean_policy(raw, now=now)
    except policies.InvalidPolicy as exc:
        log.warning(
            "contribution %s: unusable policy %r (%s); minting with no allowed use", contribution.pk, raw, exc.detail
        )
        requested = policies.Policy(allowed_uses=())
    if bounds is None:
        bounds = bounds_of(contribution.idao_id)
    price = max(requested.price_credit, bounds.min_price_credit)
    if bounds.max_price_credit is not None:
        price = min(price, bounds.max_price_credit)
    return policies.Policy(
        allowed_uses=tuple(u for u in requested.allowed_uses if u in bounds.allowed_uses),
        price_credit=price,
        quota=requested.quota,
        expires_at=requested.expires_at,
    )


def mint_record(
    dat: DAT, *, parents: list[int], round_: Round, owner: str, idao: str, contribution: str
) -> dict[str, Any]:
    """The anchored mint record (the leaf payload). verify_bundle checks the bundle against it."""
    return {
        "tokenId": dat.pk,
        "class": dat.klass,
        "title": dat.title,
        "owner": owner,
        "idao": idao,
        "contribution": contribution,
        "sha256": dat.sha256,
        "keccak256": dat.keccak256,
        "size": dat.size,
        "round": round_.pk,
        "roundAnchorLeafId": round_.anchor_leaf_id,
        "outcome": round_.outcome,
        "parents": parents,
        "policy": policy_of(dat).as_json(),
        "mintedAt": dat.minted_at.isoformat(),
    }


def lineage_declare(*, contribution_id: int, parent_ids: Any, actor: Any = None) -> DeclaredLineage:
    """Record the DATs a contribution was derived from (before its round closes). Every parent must
    exist now; DATs are never deleted, so they still exist at minting. With `actor`, only the
    contributor may declare."""
    ids = clean_parent_ids(parent_ids)
    with transaction.atomic():
        contribution = Contribution.objects.select_for_update().filter(pk=contribution_id).first()
        if contribution is None or (actor is not None and contribution.owner_id != actor.pk):
            raise NotFound(f"You have no contribution {contribution_id}.", code="contribution_not_found")
        if DAT.objects.filter(contribution=contribution).exists():
            raise Conflict(
                "This contribution already has its DAT; add parents to the DAT instead.", code="already_minted"
            )
        check_parents(ids)
        row, _ = DeclaredLineage.objects.update_or_create(contribution=contribution, defaults={"parent_ids": ids})
        return row


def dat_mint(*, round_id: int) -> DAT:
    """Mint the DAT of an accepted round. Idempotent: a second call (even a concurrent one) returns
    the first DAT, because the database allows one DAT per round."""
    with transaction.atomic():
        existing = DAT.objects.filter(round_id=round_id).first()
        if existing is not None:
            return existing
        round_ = Round.objects.select_related("idao").filter(pk=round_id).first()
        if round_ is None:
            raise NotFound(f"There is no validation round {round_id}.", code="round_not_found")
        if round_.outcome != "accepted":
            raise RoundNotAccepted(
                f"Round {round_id} was not accepted ({round_.outcome or 'still open'}); no DAT is minted."
            )
        if round_.subject_kind != SUBJECT_KIND:
            raise Conflict(
                f"Round {round_id} validated a {round_.subject_kind}, not a contribution.", code="not_a_contribution"
            )
        contribution = Contribution.objects.select_related("owner", "idao").get(pk=int(round_.subject_ref))
        if contribution.sha256 != round_.content_hash:
            raise Conflict(
                "The contribution's content hash differs from the one the round validated.", code="hash_mismatch"
            )
        declared = (
            DeclaredLineage.objects.filter(contribution=contribution).values_list("parent_ids", flat=True).first()
        )
        parents = clean_parent_ids(declared or [])
        check_parents(parents)
        now = timezone.now()
        policy = _minted_policy(contribution, now=now)
        try:
            with transaction.atomic():
                dat = DAT.objects.create(
                    klass=KLASS_OF_KIND.get(contribution.kind, DatClass.DATASET),
                    title=contribution.title,
                    owner=contribution.owner,
                    idao=contribution.idao,
                    contribution=contribution,
                    round=round_,
                    sha256=contribution.sha256,
                    keccak256=contribution.keccak256,
                    size=contribution.size,
                    allowed_uses=list(policy.allowed_uses),
                    price_credit=policy.price_credit,
                    quota=policy.quota,
                    expires_at=policy.expires_at,
                    anchor_leaf_id=0,
                    minted_at=now,
                )
        except IntegrityError:
            # A concurrent mint for this round committed first: the unique index made us wait.
            existing = DAT.objects.filter(round_id=round_id).first()
            if existing is None:
                raise
            return existing
        DatParent.objects.bulk_create([DatParent(child=dat, parent_id=p) for p in parents])
        record = mint_record(
            dat,
            parents=parents,
            round_=round_,
            owner=contribution.owner.address,
            idao=contribution.idao.slug,
            contribution=contribution.public_id,
        )
        leaf = ledger.anchor(kind=MINT_LEAF_KIND, subject=f"dat:{dat.pk}", payload=record)
        DAT.objects.filter(pk=dat.pk).update(anchor_leaf_id=leaf.pk)
        dat.anchor_leaf_id = leaf.pk
        return dat


def on_round_accepted(round_: Round) -> None:
    """Mint the contribution's DAT of one accepted round (the per-round form of the hook)."""
    if round_.subject_kind == SUBJECT_KIND:
        dat_mint(round_id=round_.pk)


def on_rounds_accepted(rounds: list[Round]) -> None:
    """quorums hook (inside the closing transaction): mint the DATs of the accepted rounds.
    Set-based when it can be (dats_mint_many); should another transaction have minted one of them
    meanwhile (the unique index makes our insert fail), each round goes through dat_mint, which
    returns the DAT that exists."""
    rounds = [r for r in rounds if r.subject_kind == SUBJECT_KIND]
    if not rounds:
        return
    try:
        with transaction.atomic():
            dats_mint_many(rounds=rounds)
    except IntegrityError:
        for r in rounds:
            dat_mint(round_id=r.pk)


def dats_mint_many(*, rounds: list[Round]) -> list[DAT]:
    """dat_mint for many accepted rounds held in memory by the closing transaction (which locked
    them and wrote their outcome and anchor): the same checks, the same DAT rows and mint records,
    with one query per kind of row instead of one set per round (the anchors stay one per DAT).
    Rounds that already have their DAT are left as they are. Call inside a transaction."""
    for r in rounds:
        if r.outcome != "accepted":
            raise RoundNotAccepted(f"Round {r.pk} was not accepted ({r.outcome or 'still open'}); no DAT is minted.")
        if r.subject_kind != SUBJECT_KIND:
            raise Conflict(f"Round {r.pk} validated a {r.subject_kind}, not a contribution.", code="not_a_contribution")
    existing = set(
        DAT.objects.filter(round_id__in=[r.pk for r in rounds]).order_by().values_list("round_id", flat=True)
    )
    rounds = [r for r in rounds if r.pk not in existing]
    if not rounds:
        return []
    contributions = Contribution.objects.select_related("owner", "idao").in_bulk([int(r.subject_ref) for r in rounds])
    declared = dict(
        DeclaredLineage.objects.filter(contribution_id__in=list(contributions)).values_list(
            "contribution_id", "parent_ids"
        )
    )
    bounds = _bounds_many({c.idao_id for c in contributions.values()})
    now = timezone.now()
    dats, lineage = [], []
    for r in rounds:
        contribution = contributions[int(r.subject_ref)]
        if contribution.sha256 != r.content_hash:
            raise Conflict(
                "The contribution's content hash differs from the one the round validated.", code="hash_mismatch"
            )
        parents = clean_parent_ids(declared.get(contribution.pk) or [])
        if parents:
            check_parents(parents)
        policy = _minted_policy(contribution, now=now, bounds=bounds[contribution.idao_id])
        dats.append(
            DAT(
                klass=KLASS_OF_KIND.get(contribution.kind, DatClass.DATASET),
                title=contribution.title,
                owner=contribution.owner,
                idao=contribution.idao,
                contribution=contribution,
                round=r,
                sha256=contribution.sha256,
                keccak256=contribution.keccak256,
                size=contribution.size,
                allowed_uses=list(policy.allowed_uses),
                price_credit=policy.price_credit,
                quota=policy.quota,
                expires_at=policy.expires_at,
                anchor_leaf_id=0,
                minted_at=now,
            )
        )
        lineage.append(parents)
    DAT.objects.bulk_create(dats)
    DatParent.objects.bulk_create(
        [DatParent(child=dat, parent_id=p) for dat, parents in zip(dats, lineage, strict=True) for p in parents]
    )
    for dat, parents, r in zip(dats, lineage, rounds, strict=True):
        record = mint_record(
            dat,
            parents=parents,
            round_=r,
            owner=dat.contribution.owner.address,
            idao=dat.contribution.idao.slug,
            contribution=dat.contribution.public_id,
        )
        dat.anchor_leaf_id = ledger.anchor(kind=MINT_LEAF_KIND, subject=f"dat:{dat.pk}", payload=record).pk
    update_by_pk(DAT, {dat.pk: {"anchor_leaf_id": dat.anchor_leaf_id} for dat in dats})
    return dats


def _register_hooks() -> None:
    """Plug DATs into the upstream apps (imported once from DatsConfig.ready())."""
    from idaos import hooks as idao_hooks
    from quorums import hooks as quorum_hooks

    from . import contributions, grants, tokens

    # DatsConfig.ready() registers the contribution hooks in their per-round forms; the batch forms
    # replace them (one query per batch of rounds instead of one per round).
    quorum_hooks.register_subject_kind(
        contributions.SUBJECT_KIND,
        describe=contributions.describe,
        download=contributions.download,
        describe_many=contributions.describe_many,
        download_many=contributions.download_many,
    )
    quorum_hooks.remove(contributions.on_verdict)
    quorum_hooks.remove(contributions.on_round_closed)
    quorum_hooks.on_verdicts(contributions.on_verdicts)
    quorum_hooks.on_rounds_closed(contributions.on_rounds_closed)
    quorum_hooks.on_rounds_accepted(on_rounds_accepted)
    idao_hooks.register_data_ref_checker(grants.check_data_ref)
    idao_hooks.register_action(
        tokens.BOUNDS_ACTION,
        validate=tokens.bounds_validate,
        execute=tokens.bounds_execute,
        describe=tokens.bounds_describe,
    )
    if grants.contribution_download_grant not in contributions.DOWNLOAD_GRANTS:
        contributions.DOWNLOAD_GRANTS.append(grants.contribution_download_grant)


_register_hooks()
