from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from idaos import eip712
from idaos.models import Membership
from idaos.services import membership, proposals
from idaos.services.idaos import idao_create
from ledger import owners
from ledger import services as ledger_services
from tests.factories import user_of
from tests.personas import ALICE, Persona


def fund(p: Persona, amount: int) -> None:
    ledger_services.mint(
        to=owners.user(p.address),
        asset="LAZ",
        amount=amount,
        idempotency_key=f"test:{p.address}:{amount}:{time.time_ns()}",
    )


def make_idao(*, founder: Persona = ALICE, members=(), slug: str = "open-health", **charter):
    charter.setdefault("quorum_bps", 0)
    charter.setdefault("voting_period", 3600)
    idao = idao_create(
        creator=user_of(founder), slug=slug, name=slug.replace("-", " ").title(), domain="healthcare", charter=charter
    )
    past = timezone.now() - timedelta(seconds=5)
    for m in members:
        membership.membership_join(idao=idao, user=user_of(m), now=past)
    return idao


def make_proposal(idao, *, author: Persona = ALICE, kind: str = "signal", payload=None, title: str = "Let us learn"):
    return proposals.proposal_create(idao=idao, author=user_of(author), kind=kind, title=title, payload=payload or {})


def ballot(
    p: Persona, proposal, choice: str = "for", *, ts: int | None = None, reason: str = "", chain_id=None, **over
):
    message = {
        "voter": p.address,
        "idao": proposal.idao.slug,
        "proposal": proposal.pk,
        "choice": choice,
        "reason": reason,
        "timestamp": ts if ts is not None else int(time.time()),
    }
    message.update(over)
    full = eip712.typed_data(message, chain_id=chain_id)
    return {"message": message, "signature": p.sign_typed(full)}


def vote_url(proposal) -> str:
    return f"/api/v1/proposals/{proposal.pk}/votes"


@pytest.fixture
def membership_of():
    def get(idao, p: Persona) -> Membership:
        return Membership.objects.get(idao=idao, user__address=p.address, status="active")

    return get
