"""Demo for the embedded default: a model whose DAT and three training datasets earn from a
simulated pipeline. `load` builds on whatever the other apps' demos created (an iDAO, a quorum,
DATs) and fills in what is missing; `pipeline_tick` (a Celery beat task when
REWARDS_DEMO_PIPELINE is on) reports a few usage events every few seconds. Idempotent."""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import time
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from contributions.models import Contribution
from dats.models import DAT
from dats.services import dat_mint
from idaos import selectors as idao_selectors
from idaos.models import IDAO, AIModel, ManifestEntry, ModelVersion
from idaos.services import assets as idao_assets
from idaos.services import membership as idao_membership
from idaos.services.idaos import idao_create
from ledger import merkle, owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from portal.demo import demo_account
from portal.errors import DomainError
from portal.models import User
from quorums import services as quorum_services
from quorums.models import Quorum, Round, Seat, Verdict

from .models import UsageEvent
from .services import credits, metering

MODEL_NAME = "Triage assistant"
PIPELINE = "erin"
USES = ["training", "fine_tuning", "inference", "evaluation"]
PRICE = 25  # CREDIT per granted use of a demo DAT (the policy key contributions and DATs read)


def _person(name: str) -> User:
    return User.objects.get_or_create(address=demo_account(name).address, defaults={"display_name": name.title()})[0]


def _demo_dat(*, idao: IDAO, owner: User, quorum: Quorum, title: str, kind: str) -> DAT:
    """A contribution accepted by the demo validators, minted by the dats app."""
    body = _demo_body(title)
    existing = DAT.objects.filter(idao=idao, title=title).first()
    if existing is not None:
        _ensure_file(existing.contribution, body)
        return existing
    sha, kec = "0x" + hashlib.sha256(body).hexdigest(), merkle.to_hex(merkle.keccak(body))
    now = timezone.now()
    storage_name = default_storage.save(f"contributions/demo/{secrets.token_hex(12)}", ContentFile(body))
    with transaction.atomic():
        contribution = Contribution.objects.create(
            idao=idao,
            owner=owner,
            kind=kind,
            title=title,
            licence="CC-BY-4.0",
            usage_policy={"allowed_uses": USES, "price": PRICE},
            storage_name=storage_name,
            original_name="demo.bin",
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
            close_reason="demo",
            opened_at=now - timedelta(minutes=5),
            deadline=now,
            closed_at=now,
        )
        for validator in quorum.validators.filter(state="active")[:3]:
            Seat.objects.create(round=rnd, validator=validator, address=validator.address, stake=validator.stake)
            Verdict.objects.create(
                round=rnd,
                validator=validator,
                verdict="approve",
                signature="0x",
                digest="0x" + secrets.token_hex(32),
                automated=True,
            )
        # Anchor the outcome as a closed round does, so the DAT's provenance bundle can prove it.
        leaf = ledger_services.anchor(
            kind="validation_round",
            subject=f"round:{rnd.pk}",
            payload={
                "round": rnd.pk,
                "quorum": quorum.pk,
                "idao": idao.slug,
                "subject": f"contribution:{contribution.pk}",
                "content_hash": sha,
                "seed": rnd.seed,
                "outcome": "accepted",
                "close_reason": "demo",
                "committee": [[s.address, int(s.stake)] for s in rnd.seats.order_by("validator_id")],
                "tally": {},
                "verdicts_digest": None,
                "slashes": [],
            },
        )
        Round.objects.filter(pk=rnd.pk).update(anchor_leaf_id=leaf.pk)
        Contribution.objects.filter(pk=contribution.pk).update(round=rnd)
        return dat_mint(round_id=rnd.pk)


def _demo_body(title: str) -> bytes:
    """The demo file's bytes, the same on every run (its hash is anchored in the round)."""
    return f"{title} (rewards demo)".encode()


def _ensure_file(contribution: Contribution, body: bytes) -> None:
    """Demo data loaded before files were written: store the bytes the anchored hash names."""
    if default_storage.exists(contribution.storage_name):
        return
    if "0x" + hashlib.sha256(body).hexdigest() != contribution.sha256:
        return  # an older demo body we cannot reproduce; leave the row alone
    default_storage.save(contribution.storage_name, ContentFile(body))


def _model(idao: IDAO, steward: User, dats: list[DAT], model_dat: DAT) -> ModelVersion:
    model = AIModel.objects.filter(idao=idao, name=MODEL_NAME).first()
    if model is None:
        manifest = [f"dat:{d.pk}" for d in dats]
        try:
            model = idao_assets.aimodel_register(
                idao=idao,
                steward=steward,
                name=MODEL_NAME,
                artifact_hash=model_dat.sha256,
                manifest=manifest,
                description="Learns from three member datasets; its weights are a DAT too.",
            )
        except DomainError:
            # The manifest check refused a demo DAT's policy: register the same model directly.
            model = AIModel.objects.create(idao=idao, name=MODEL_NAME, created_by=steward)
            version = ModelVersion.objects.create(model=model, number=1, artifact_hash=model_dat.sha256, current=True)
            ManifestEntry.objects.bulk_create([ManifestEntry(model_version=version, data_ref=r) for r in manifest])
    return model.versions.get(number=1)


def load(stdout) -> None:
    alice, bob, carol, dave, erin = (_person(n) for n in ("alice", "bob", "carol", "dave", PIPELINE))
    idao = IDAO.objects.order_by("id").first() or idao_create(
        creator=alice,
        slug="open-health",
        name="Open Health",
        domain="healthcare",
        description="Clinicians and patients who own their triage models.",
    )
    steward = next(
        (u for u in (alice, idao.created_by) if idao_selectors.is_steward(idao=idao, user=u)), idao.created_by
    )
    for person in (bob, carol, dave, erin):
        if not idao_selectors.is_member(idao=idao, user=person):
            # An approval-only iDAO refuses: the demo pipeline then reports as the steward.
            with contextlib.suppress(DomainError):
                idao_membership.membership_join(idao=idao, user=person)
    quorum = Quorum.objects.order_by("id").first() or Quorum.objects.create(name="Demo quorum", committee_size=2)
    if not quorum.validators.filter(state="active").exists():
        quorum_services.demo_validators(quorum_id=quorum.pk, count=2, stake=1000)
    dats = [
        _demo_dat(idao=idao, owner=owner, quorum=quorum, title=title, kind="dataset")
        for owner, title in ((alice, "Triage notes 2024"), (bob, "Symptom diary corpus"), (carol, "ER intake forms"))
    ]
    model_dat = _demo_dat(
        idao=idao, owner=dave, quorum=quorum, title="Triage assistant weights v1", kind="model_weights"
    )
    version = _model(idao, steward, dats, model_dat)
    ledger_services.mint(
        to=idao.treasury_owner,
        asset="CREDIT",
        amount=10_000_000,
        idempotency_key=f"rewards-demo:treasury-credit:{idao.slug}",
    )
    pipeline = erin if idao_selectors.is_member(idao=idao, user=erin) else steward
    if pipeline != steward:
        credits.credit_grant(
            idao=idao,
            steward=steward,
            member_address=pipeline.address,
            amount=1_000_000,
            request_key="rewards-demo-initial",
            memo="demo pipeline",
        )
    now = timezone.now()
    seeded = UsageEvent.objects.filter(idempotency_key="demo-seed-training").exists()
    if not seeded:
        metering.usage_report(
            user=pipeline,
            token=None,
            now=now,
            items=[
                {
                    "model_id": version.model_id,
                    "version": version.number,
                    "kind": kind,
                    "units": units,
                    "occurred_at": now.isoformat(),
                    "idempotency_key": f"demo-seed-{kind}",
                }
                for kind, units in (("training", 50), ("inference", 400), ("evaluation", 40))
            ],
        )
    stdout.write(
        f"rewards demo: model {version.model_id} with DAT #{model_dat.pk} and datasets "
        f"{', '.join('#' + str(d.pk) for d in dats)}; pipeline {pipeline.display_name or pipeline.address}"
    )


def pipeline_tick() -> int:
    """Report a handful of usage events of the demo model, topping up CREDIT when low."""
    version = ModelVersion.objects.filter(model__name=MODEL_NAME, number=1).select_related("model__idao").first()
    if version is None:
        return 0
    idao = version.model.idao
    erin = _person(PIPELINE)
    pipeline = erin if idao_selectors.is_member(idao=idao, user=erin) else idao.created_by
    payer = owners.user(pipeline.address)
    if ledger_selectors.balance(payer, "CREDIT") < 50_000 and pipeline == erin:
        steward = next(
            (m.user for m in idao.memberships.filter(role="steward", status="active").select_related("user")), None
        )
        if steward is not None:
            credits.credit_grant(
                idao=idao,
                steward=steward,
                member_address=pipeline.address,
                amount=1_000_000,
                request_key=f"rewards-demo-topup-{int(time.time()) // 60}",
                memo="demo top-up",
            )
    now = timezone.now()
    rng = random.Random()
    items = [
        {
            "model_id": version.model_id,
            "version": 1,
            "kind": rng.choice(["inference"] * 8 + ["evaluation", "fine_tuning"]),
            "units": rng.randint(5, 120),
            "occurred_at": now.isoformat(),
            "idempotency_key": f"demo-{time.time_ns()}-{i}",
        }
        for i in range(rng.randint(1, 5))
    ]
    return metering.usage_report(user=pipeline, token=None, items=items, now=now).accepted
