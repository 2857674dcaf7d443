"""Factories for reward tests: DATs are created directly through the ORM, with the contribution,
the accepted validation round, its seats and approving verdicts they come from."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import factory
from django.utils import timezone
from eth_utils import keccak

from contributions.models import Contribution
from dats.models import DAT
from idaos.models import IDAO, Agent, AgentVersion, AIModel, ManifestEntry, ModelVersion
from portal.models import User
from quorums.models import Quorum, Round, Seat, Validator, Verdict
from tests.factories import IdaoFactory, MembershipFactory, UserFactory, user_of  # noqa: F401


class QuorumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quorum

    name = factory.Sequence(lambda n: f"rewards quorum {n}")


class ValidatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Validator

    quorum = factory.SubFactory(QuorumFactory)
    user = factory.SubFactory(UserFactory)
    address = factory.SelfAttribute("user.address")
    stake = 100


def _content(n: int) -> bytes:
    return f"dataset bytes {n} {secrets.token_hex(4)}".encode()


def make_dat(
    *,
    idao: IDAO,
    owner: User,
    seats: list[tuple[Validator, int, str]],
    klass: str = "dataset",
    minted_at: datetime | None = None,
) -> DAT:
    """A minted DAT whose round had these (validator, stake, verdict) seats and was accepted;
    minted 30 days ago unless told, so its challenge window has closed and its payouts are paid
    at once (a DAT inside its window has its contributor payouts held in escrow)."""
    body = _content(DAT.objects.count())
    sha, kec = "0x" + hashlib.sha256(body).hexdigest(), "0x" + keccak(body).hex().removeprefix("0x")
    quorum = seats[0][0].quorum if seats else QuorumFactory()
    now = timezone.now()
    contribution = Contribution.objects.create(
        idao=idao,
        owner=owner,
        kind={"dataset": "dataset", "model": "model_weights", "agent": "agent"}[klass],
        title=f"{klass} {sha[:10]}",
        licence="CC-BY-4.0",
        storage_name=secrets.token_hex(16),
        size=len(body),
        sha256=sha,
        keccak256=kec,
        state="accepted",
    )
    rnd = Round.objects.create(
        quorum=quorum,
        idao=idao,
        subject_kind="contribution",
        subject_ref=str(contribution.pk),
        content_hash=sha,
        seed="0x" + "00" * 32,
        state="closed",
        outcome="accepted",
        opened_at=now - timedelta(hours=1),
        deadline=now,
        closed_at=now,
    )
    for validator, stake, verdict in seats:
        Seat.objects.create(round=rnd, validator=validator, address=validator.address, stake=stake)
        Verdict.objects.create(
            round=rnd, validator=validator, verdict=verdict, signature="0x", digest=secrets.token_hex(32)
        )
    contribution.round = rnd
    contribution.save(update_fields=["round"])
    return DAT.objects.create(
        klass=klass,
        title=contribution.title,
        owner=owner,
        idao=idao,
        contribution=contribution,
        round=rnd,
        sha256=sha,
        keccak256=kec,
        size=len(body),
        anchor_leaf_id=0,
        minted_at=minted_at or now - timedelta(days=30),
    )


def make_model(*, idao: IDAO, artifact_hash: str, manifest: list[str], name: str = "model") -> ModelVersion:
    model = AIModel.objects.create(idao=idao, name=name, created_by=idao.created_by)
    version = ModelVersion.objects.create(model=model, number=1, artifact_hash=artifact_hash, current=True)
    for ref in manifest:
        ManifestEntry.objects.create(model_version=version, data_ref=ref)
    return version


def make_agent(*, idao: IDAO, artifact_hash: str, name: str = "agent") -> AgentVersion:
    agent = Agent.objects.create(idao=idao, name=name, created_by=idao.created_by)
    return AgentVersion.objects.create(agent=agent, number=1, artifact_hash=artifact_hash)
