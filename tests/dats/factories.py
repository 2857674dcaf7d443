"""Builders for DAT tests: a contribution with a real stored file, and a closed round with its
anchor, made directly (the full validator flow is covered once, in test_minting)."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from eth_utils import keccak

from contributions.models import Contribution
from dats.services import dat_mint
from idaos.models import IDAO, Membership
from ledger import owners
from ledger import services as ledger
from portal.models import ApiToken
from quorums.models import Quorum, Round
from tests.factories import user_of
from tests.personas import Persona

_seq = itertools.count(1)


def make_idao(founder: Persona, slug: str | None = None, **charter) -> IDAO:
    slug = slug or f"dat-idao-{next(_seq)}"
    idao = IDAO.objects.create(slug=slug, name=slug.title(), domain="science", created_by=user_of(founder), **charter)
    Membership.objects.create(
        idao=idao, user=user_of(founder), role="steward", status="active", joined_at=timezone.now()
    )
    return idao


def make_contribution(
    idao: IDAO,
    owner: Persona,
    *,
    content: bytes | None = None,
    kind: str = "dataset",
    policy: dict | None = None,
    title: str | None = None,
) -> Contribution:
    content = content if content is not None else f"row,{next(_seq)},{secrets.token_hex(4)}\n".encode()
    name = default_storage.save(f"contributions/test/{secrets.token_hex(8)}", ContentFile(content))
    return Contribution.objects.create(
        idao=idao,
        owner=user_of(owner),
        kind=kind,
        title=title or f"Data {next(_seq)}",
        licence="CC-BY-4.0",
        usage_policy=policy if policy is not None else {"allowed_uses": ["training", "inference"], "price": 10},
        storage_name=name,
        original_name="data.csv",
        size=len(content),
        sha256="0x" + hashlib.sha256(content).hexdigest(),
        keccak256="0x" + keccak(content).hex(),
        state="accepted",
    )


def closed_round(contribution: Contribution, *, outcome: str = "accepted", scores: dict | None = None) -> Round:
    """A closed round for the contribution with its anchored outcome (as quorums.round_close writes it)."""
    quorum = Quorum.objects.first() or Quorum.objects.create(name="Q")
    now = timezone.now()
    with transaction.atomic():
        r = Round.objects.create(
            quorum=quorum,
            idao=contribution.idao,
            subject_kind="contribution",
            subject_ref=str(contribution.pk),
            content_hash=contribution.sha256,
            seed="0x" + "00" * 32,
            state="closed",
            outcome=outcome,
            close_reason="threshold",
            opened_at=now,
            deadline=now + timedelta(hours=1),
            closed_at=now,
            scores=scores or {},
        )
        leaf = ledger.anchor(
            kind="validation_round",
            subject=f"round:{r.pk}",
            payload={
                "round": r.pk,
                "idao": contribution.idao.slug,
                "content_hash": contribution.sha256,
                "outcome": outcome,
                "subject": f"contribution:{contribution.pk}",
                **({"scores": scores} if scores else {}),
            },
        )
        Round.objects.filter(pk=r.pk).update(anchor_leaf_id=leaf.pk)
        r.refresh_from_db()
        Contribution.objects.filter(pk=contribution.pk).update(round=r)
    return r


def minted(idao: IDAO, owner: Persona, *, parents=(), scores: dict | None = None, **kw):
    from dats.services import lineage_declare

    c = make_contribution(idao, owner, **kw)
    if parents:
        lineage_declare(contribution_id=c.pk, parent_ids=[p.pk for p in parents])
    return dat_mint(round_id=closed_round(c, scores=scores).pk)


def token_for(p: Persona, *, scopes=("dats:access",), subject: str = "") -> tuple[str, ApiToken]:
    raw, prefix, digest = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user_of(p), name="pipeline", subject=subject, scopes=list(scopes), prefix=prefix, key_hash=digest
    )
    return raw, token


def credit(owner: str, amount: int) -> None:
    ledger.mint(
        to=owner,
        asset="CREDIT",
        amount=amount,
        idempotency_key=f"test-credit:{owner}:{next(_seq)}:{secrets.token_hex(4)}",
    )


def user_owner(p: Persona) -> str:
    return owners.user(p.address)
