"""Minting: exactly one DAT per accepted validation round, in the round's closing transaction and
anchored with it (quorums' on_rounds_accepted hook, registered in DatsConfig.ready()). Also the
lineage a contribution declares before its DAT exists."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from contributions.models import Contribution
from contributions.subject import SUBJECT_KIND
from ledger import services as ledger
from portal.errors import Conflict, NotFound
from portal.events import emit_many
from portal.sql import bulk_insert, reserve_ids
from quorums.models import Round

from .. import policies
from ..lineage import check_parents, clean_parent_ids
from ..minhash import MINHASH_AT_MINT_BYTES, minhash_of, next_seqs
from ..models import DAT, DatClass, DatParent, DeclaredLineage

log = logging.getLogger(__name__)
MINT_LEAF_KIND = "dat.mint"
KLASS_OF_KIND = {
    "dataset": DatClass.DATASET,
    "model_weights": DatClass.MODEL,
    "model_update": DatClass.MODEL,
    "agent": DatClass.AGENT,
}


class RoundNotAccepted(Conflict):
    code = "round_not_accepted"


def _minted_policy(contribution: Contribution, *, now: datetime, bounds: policies.Bounds) -> policies.Policy:
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
        "policy": policies.policy_of(dat).as_json(),
        "mintedAt": dat.minted_at.isoformat(),
        **({"minhash": dat.minhash} if dat.minhash is not None else {}),
        **({"scores": dat.scores} if dat.scores else {}),
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


def dats_mint(*, round_ids: Sequence[int]) -> list[DAT]:
    """Mint the DATs of accepted rounds; returns each round's DAT, in order. Idempotent: a round
    that has its DAT keeps it, even against a concurrent mint, because the database allows one
    DAT per round."""
    with transaction.atomic():
        found = Round.objects.in_bulk(list(round_ids))
        for round_id in round_ids:
            if round_id not in found:
                raise NotFound(f"There is no validation round {round_id}.", code="round_not_found")
        rounds = [found[round_id] for round_id in round_ids]
        _mint(rounds)
        by_round = {dat.round_id: dat for dat in DAT.objects.filter(round_id__in=list(round_ids))}
        return [by_round[round_id] for round_id in round_ids]


def dat_mint(*, round_id: int) -> DAT:
    """dats_mint for one round."""
    return dats_mint(round_ids=[round_id])[0]


def on_rounds_accepted(rounds: Sequence[Round]) -> None:
    """quorums hook (inside the closing transaction, which holds the rounds locked and has written
    their outcome and anchor): mint the DATs of the accepted contribution rounds."""
    _mint([r for r in rounds if r.subject_kind == SUBJECT_KIND])


def _mint(rounds: list[Round]) -> None:
    """Set-based minting, one query per kind of row (the mint records anchored together). Should another
    transaction mint one of these rounds meanwhile (the unique index makes the insert wait, then
    fail), each round is minted on its own in a savepoint and the one that exists is kept."""
    if not rounds:
        return
    for r in rounds:
        if r.outcome != "accepted":
            raise RoundNotAccepted(f"Round {r.pk} was not accepted ({r.outcome or 'still open'}); no DAT is minted.")
        if r.subject_kind != SUBJECT_KIND:
            raise Conflict(f"Round {r.pk} validated a {r.subject_kind}, not a contribution.", code="not_a_contribution")
    try:
        with transaction.atomic():
            _mint_new(rounds)
    except IntegrityError:
        if len(rounds) == 1:
            if not DAT.objects.filter(round_id=rounds[0].pk).exists():
                raise
            return
        for r in rounds:
            _mint([r])


def _mint_new(rounds: list[Round]) -> None:
    existing = set(
        DAT.objects.filter(round_id__in=[r.pk for r in rounds]).order_by().values_list("round_id", flat=True)
    )
    rounds = [r for r in rounds if r.pk not in existing]
    if not rounds:
        return
    contributions = Contribution.objects.select_related("owner", "idao").in_bulk([int(r.subject_ref) for r in rounds])
    # An appeal panel that accepted an already minted contribution (a re-score) mints nothing:
    # one DAT per contribution (dats.services.appeals re-scores it).
    has_dat = set(DAT.objects.filter(contribution_id__in=list(contributions)).values_list("contribution_id", flat=True))
    rounds = [r for r in rounds if int(r.subject_ref) not in has_dat]
    if not rounds:
        return
    declared = dict(
        DeclaredLineage.objects.filter(contribution_id__in=list(contributions)).values_list(
            "contribution_id", "parent_ids"
        )
    )
    bounds = policies.bounds_many({c.idao_id for c in contributions.values()})
    now = timezone.now()
    # The token ids first (one query): the anchored mint record carries each DAT's id, so each
    # row is then inserted once, complete with its anchor and signature.
    token_ids = iter(reserve_ids(DAT, len(rounds)))
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
                pk=next(token_ids),
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
                scores=dict(r.scores or {}),
                minted_at=now,
            )
        )
        lineage.append(parents)
    # Small files' MinHash now (read through the storage API), larger ones after commit.
    small = [dat for dat in dats if dat.size <= MINHASH_AT_MINT_BYTES]
    for dat in small:
        dat.minhash = minhash_of(dat.contribution)
    seqs = iter(next_seqs(sum(1 for dat in small if dat.minhash is not None)))
    for dat in small:
        dat.minhash_seq = next(seqs) if dat.minhash is not None else None
    records = [
        (
            MINT_LEAF_KIND,
            f"dat:{dat.pk}",
            mint_record(
                dat,
                parents=parents,
                round_=r,
                owner=dat.contribution.owner.address,
                idao=dat.contribution.idao.slug,
                contribution=dat.contribution.public_id,
            ),
        )
        for dat, parents, r in zip(dats, lineage, rounds, strict=True)
    ]
    for dat, leaf in zip(dats, ledger.anchor_many(records), strict=True):  # one anchoring for the batch
        dat.anchor_leaf_id = leaf.pk
    bulk_insert(DAT, dats)
    DatParent.objects.bulk_create(
        [DatParent(child=dat, parent_id=p) for dat, parents in zip(dats, lineage, strict=True) for p in parents]
    )
    large = [dat.pk for dat in dats if dat.size > MINHASH_AT_MINT_BYTES]
    if large:
        from ..tasks import dats_minhash_task

        transaction.on_commit(lambda: dats_minhash_task.delay(large))
    emit_many(
        [
            dict(
                kind="contribution.accepted",
                idao=d.idao_id,
                subject=f"dat:{d.pk}",
                recipients=[d.owner_id],
                payload={"title": d.title, "dat": d.pk, "contribution": d.contribution.public_id, "round": d.round_id},
            )
            for d in dats
        ]
    )


def on_appeals_decided(appeals: Sequence[Any]) -> None:
    """quorums hook: an appeal that re-scored an accepted contribution gives its DAT the panel's
    score (the anchored appeal decision carries it; the mint record keeps the first round's)."""
    for a in appeals:
        if a.state == "overturned" and a.round.outcome == "accepted" and a.appeal_round.subject_kind == "contribution":
            DAT.objects.filter(contribution_id=int(a.appeal_round.subject_ref)).update(
                scores=dict(a.appeal_round.scores)
            )
