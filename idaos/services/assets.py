"""AI assets of an iDAO: stewards register models (with a first version and manifest) and agents.
Later versions come only from passed proposals (idaos.services.actions)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from portal.models import User

from ..errors import Conflict, InvalidInput
from ..models import IDAO, Agent, AgentVersion, AIModel, ManifestEntry, ModelVersion
from ..rules import clean_data_refs, clean_hash, clean_policy
from .membership import steward_require


def aimodel_register(
    *,
    idao: IDAO,
    steward: User,
    name: str,
    description: str = "",
    artifact_hash: str,
    manifest: list[str] | None = None,
) -> AIModel:
    """A steward registers a model with its first version (current) and initial manifest."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("The model name is 1-120 characters.")
    artifact_hash = clean_hash(artifact_hash)
    refs = clean_data_refs(idao, manifest or [], allow_empty=True)
    try:
        with transaction.atomic():
            steward_require(idao=idao, user=steward)
            model = AIModel.objects.create(idao=idao, name=name, description=description or "", created_by=steward)
            version = ModelVersion.objects.create(model=model, number=1, artifact_hash=artifact_hash, current=True)
            ManifestEntry.objects.bulk_create([ManifestEntry(model_version=version, data_ref=r) for r in refs])
    except IntegrityError:
        raise Conflict(f"{idao.name} already has a model named “{name}”.", code="name_taken") from None
    return model


def agent_register(
    *,
    idao: IDAO,
    steward: User,
    name: str,
    description: str = "",
    behaviour_policy: dict | None = None,
    artifact_hash: str = "",
) -> Agent:
    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("The agent name is 1-120 characters.")
    policy = clean_policy(behaviour_policy or {})
    artifact_hash = clean_hash(artifact_hash) if artifact_hash else ""
    try:
        with transaction.atomic():
            steward_require(idao=idao, user=steward)
            agent = Agent.objects.create(
                idao=idao, name=name, description=description or "", behaviour_policy=policy, created_by=steward
            )
            AgentVersion.objects.create(agent=agent, number=1, behaviour_policy=policy, artifact_hash=artifact_hash)
    except IntegrityError:
        raise Conflict(f"{idao.name} already has an agent named “{name}”.", code="name_taken") from None
    return agent
