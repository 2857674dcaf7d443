from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.utils import timezone

from dats.models import DAT
from idaos.models import IDAO, AgentVersion, ModelVersion
from ledger import owners
from ledger import services as ledger_services
from portal.models import User
from rewards.models import Epoch
from rewards.services import metering
from tests.personas import ALICE, BOB, CAROL, DAVE, persona

from .factories import (
    IdaoFactory,
    MembershipFactory,
    QuorumFactory,
    ValidatorFactory,
    make_agent,
    make_dat,
    make_model,
    user_of,
)

PIPELINE = persona("pipeline", 0x77)
_keys = itertools.count()


@pytest.fixture(autouse=True)
def _reward_settings(settings):
    settings.REWARDS_EPOCH_SECONDS = 3600
    settings.REWARDS_EPOCH_EMISSION_LAZ = 1_000_000
    settings.REWARDS_MODEL_DAT_BPS = 3000
    settings.REWARDS_KIND_WEIGHTS = {"inference": 1, "evaluation": 1, "fine_tuning": 5, "training": 10}
    settings.REWARDS_FEE_CREDIT_PER_UNIT = {"inference": 1, "evaluation": 1, "fine_tuning": 5, "training": 10}


def fund_credit(owner: str, amount: int) -> None:
    ledger_services.mint(
        to=owner, asset="CREDIT", amount=amount, idempotency_key=f"test:credit:{owner}:{next(_keys)}:{amount}"
    )


def event(
    version: ModelVersion | AgentVersion,
    units: int,
    *,
    kind: str = "inference",
    key: str | None = None,
    when: datetime | None = None,
) -> dict:
    ref = {"model_id": version.model_id} if isinstance(version, ModelVersion) else {"agent_id": version.agent_id}
    return {
        **ref,
        "version": version.number,
        "kind": kind,
        "units": units,
        "occurred_at": (when or timezone.now()).isoformat(),
        "idempotency_key": key or f"k{next(_keys)}",
    }


@dataclass
class World:
    a: IDAO
    b: IDAO
    model: ModelVersion
    agent: AgentVersion
    dm: DAT
    d1: DAT
    d2: DAT
    d3: DAT
    e1: DAT
    pipeline: User

    def report(self, items: list[dict], *, now: datetime | None = None):
        return metering.usage_report(user=self.pipeline, token=None, items=items, now=now or timezone.now())


@pytest.fixture
def world(db) -> World:
    """Two iDAOs. A (70/20/10) has a model whose DAT is dave's and whose manifest names three
    datasets (alice's d1 and d3 by id, bob's d2 by hash); B (60/30/10) has an agent whose DAT e1
    is bob's. carol (stake 300) and dave (stake 100) approved every round, except that dave
    rejected e1."""
    alice, bob, carol, dave, pipeline = (user_of(p) for p in (ALICE, BOB, CAROL, DAVE, PIPELINE))
    a = IdaoFactory(slug="alpha", split_contributors_bps=7000, split_treasury_bps=2000, split_validators_bps=1000)
    b = IdaoFactory(slug="beta", split_contributors_bps=6000, split_treasury_bps=3000, split_validators_bps=1000)
    for idao in (a, b):
        MembershipFactory(idao=idao, user=pipeline)
    quorum = QuorumFactory()
    v1 = ValidatorFactory(quorum=quorum, user=carol, stake=300)
    v2 = ValidatorFactory(quorum=quorum, user=dave, stake=100)
    both = [(v1, 300, "approve"), (v2, 100, "approve")]
    dm = make_dat(idao=a, owner=dave, seats=both, klass="model")
    d1, d2, d3 = (make_dat(idao=a, owner=o, seats=both) for o in (alice, bob, alice))
    e1 = make_dat(idao=b, owner=bob, seats=[(v1, 300, "approve"), (v2, 100, "reject")], klass="agent")
    model = make_model(idao=a, artifact_hash=dm.sha256, manifest=[f"dat:{d1.pk}", d2.sha256, f"dat:{d3.pk}"])
    agent = make_agent(idao=b, artifact_hash=e1.keccak256)
    fund_credit(owners.user(pipeline.address), 1_000_000)
    return World(a, b, model, agent, dm, d1, d2, d3, e1, pipeline)


def current_epoch() -> Epoch:
    return Epoch.objects.order_by("-number").first()
