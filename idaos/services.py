"""Writes for iDAOs, memberships and AI assets: keyword-only functions, one transaction each.
Proposals live in idaos.proposals, ballots in idaos.ballots."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import User

from .errors import Conflict, InvalidInput, NotFound, NotMember, NotSteward
from .models import (
    IDAO,
    Agent,
    AgentVersion,
    AIModel,
    Domain,
    ManifestEntry,
    Membership,
    MembershipPolicy,
    MembershipStatus,
    ModelVersion,
    Role,
    VotingRule,
)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")
HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_DURATION = timedelta(days=60)
MAX_POLICY_BYTES = 20_000


def _duration(name: str, value: Any, *, minimum: timedelta = timedelta(0)) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_DURATION.total_seconds() * 2:
            raise InvalidInput(f"{name} must be between {int(minimum.total_seconds())} s and 60 days.")
        result = timedelta(seconds=value)
    else:
        raise InvalidInput(f"{name} is a number of seconds.")
    if result < minimum or result > MAX_DURATION:
        raise InvalidInput(f"{name} must be between {int(minimum.total_seconds())} s and 60 days.")
    return result


def _bps(name: str, value: Any, *, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10000:
        raise InvalidInput(f"{name} is an integer number of basis points between {low} and 10000.")
    return value


def clean_charter(values: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate charter fields (durations in seconds or timedelta) and return model values. With
    `base`, `values` is a partial change applied over it; the result is checked as a whole."""
    unknown = set(values) - set(IDAO.CHARTER_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown charter field(s): {', '.join(sorted(unknown))}.")
    merged = {**(base or {}), **values}
    out: dict[str, Any] = {}
    if "voting_rule" in merged:
        if merged["voting_rule"] not in VotingRule.values:
            raise InvalidInput(f"voting_rule must be one of {', '.join(VotingRule.values)}.")
        out["voting_rule"] = merged["voting_rule"]
    if "voting_period" in merged:
        out["voting_period"] = _duration("voting_period", merged["voting_period"], minimum=timedelta(seconds=60))
    if "voting_delay" in merged:
        out["voting_delay"] = _duration("voting_delay", merged["voting_delay"])
    if "proposal_min_membership_age" in merged:
        out["proposal_min_membership_age"] = _duration(
            "proposal_min_membership_age", merged["proposal_min_membership_age"]
        )
    if "quorum_bps" in merged:
        out["quorum_bps"] = _bps("quorum_bps", merged["quorum_bps"])
    if "approval_threshold_bps" in merged:
        out["approval_threshold_bps"] = _bps("approval_threshold_bps", merged["approval_threshold_bps"], low=1)
    if "proposal_min_stake" in merged:
        stake = merged["proposal_min_stake"]
        try:
            stake = int(stake)
        except (TypeError, ValueError):
            raise InvalidInput("proposal_min_stake is a whole number of LAZ base units.") from None
        if stake < 0 or stake >= 2**256:
            raise InvalidInput("proposal_min_stake must be between 0 and 2^256 - 1.")
        out["proposal_min_stake"] = stake
    if "membership_policy" in merged:
        if merged["membership_policy"] not in MembershipPolicy.values:
            raise InvalidInput("membership_policy must be open or approval.")
        out["membership_policy"] = merged["membership_policy"]
    split = ("split_contributors_bps", "split_treasury_bps", "split_validators_bps")
    for name in split:
        if name in merged:
            out[name] = _bps(name, merged[name])
    if all(name in out for name in split) and sum(out[name] for name in split) != 10000:
        raise InvalidInput("The reward split (contributors + treasury + validators) must sum to 10000 bps (100%).")
    return out


def charter_of(idao: IDAO) -> dict[str, Any]:
    return {name: getattr(idao, name) for name in IDAO.CHARTER_FIELDS}


def idao_create(
    *, creator: User, slug: str, name: str, domain: str, description: str = "", charter: dict[str, Any] | None = None
) -> IDAO:
    """Form an iDAO; the founder becomes its first steward."""
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            "The slug is 3-60 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
        )
    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("The name is 1-120 characters.")
    if domain not in Domain.values:
        raise InvalidInput(f"domain must be one of {', '.join(Domain.values)}.")
    if len(description or "") > 5000:
        raise InvalidInput("The description is at most 5,000 characters.")
    fields = clean_charter(charter or {}, base=charter_of(IDAO()))
    now = timezone.now()
    try:
        with transaction.atomic():
            idao = IDAO.objects.create(
                slug=slug,
                name=name,
                domain=domain,
                description=description or "",
                created_by=creator,
                created_at=now,
                **fields,
            )
            Membership.objects.create(
                idao=idao,
                user=creator,
                role=Role.STEWARD,
                status=MembershipStatus.ACTIVE,
                requested_at=now,
                joined_at=now,
            )
    except IntegrityError:
        raise Conflict(f"The slug “{slug}” is taken; choose another.", code="slug_taken") from None
    return idao


def membership_join(*, idao: IDAO, user: User, now: datetime | None = None) -> Membership:
    """Join an open iDAO, or request to join one that admits by steward approval."""
    now = now or timezone.now()
    open_policy = idao.membership_policy == MembershipPolicy.OPEN
    try:
        with transaction.atomic():
            return Membership.objects.create(
                idao=idao,
                user=user,
                status=MembershipStatus.ACTIVE if open_policy else MembershipStatus.PENDING,
                requested_at=now,
                joined_at=now if open_policy else None,
            )
    except IntegrityError:
        current = Membership.objects.filter(idao=idao, user=user, status__in=["pending", "active"]).first()
        if current and current.status == MembershipStatus.PENDING:
            raise Conflict("You already asked to join; a steward will decide.", code="already_requested") from None
        raise Conflict(f"You are already a member of {idao.name}.", code="already_member") from None


def _require_steward(idao: IDAO, user: User) -> None:
    if not Membership.objects.filter(idao=idao, user=user, status=MembershipStatus.ACTIVE, role=Role.STEWARD).exists():
        raise NotSteward(f"Only stewards of {idao.name} may do this.")


def membership_decide(
    *, idao: IDAO, steward: User, membership_id: int, approve: bool, now: datetime | None = None
) -> Membership:
    """A steward approves or denies a pending request (the first decision wins)."""
    now = now or timezone.now()
    with transaction.atomic():
        _require_steward(idao, steward)
        updated = Membership.objects.filter(pk=membership_id, idao=idao, status=MembershipStatus.PENDING).update(
            status=MembershipStatus.ACTIVE if approve else MembershipStatus.DENIED,
            joined_at=now if approve else None,
            ended_at=None if approve else now,
        )
        if not updated:
            raise Conflict("This request is no longer pending.", code="not_pending")
        return Membership.objects.get(pk=membership_id)


def membership_set_role(*, idao: IDAO, steward: User, membership_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput("role is member or steward.")
    with transaction.atomic():
        _require_steward(idao, steward)
        membership = (
            Membership.objects.select_for_update()
            .filter(pk=membership_id, idao=idao, status=MembershipStatus.ACTIVE)
            .first()
        )
        if membership is None:
            raise NotFound("No active membership with this id in this iDAO.")
        if role == Role.MEMBER and membership.role == Role.STEWARD:
            _ensure_not_last_steward(idao, membership)
        membership.role = role
        membership.save(update_fields=["role"])
        return membership


def _ensure_not_last_steward(idao: IDAO, membership: Membership) -> None:
    # Lock every steward row in id order so two stewards cannot both step down at once.
    stewards = list(
        Membership.objects.select_for_update()
        .filter(idao=idao, status=MembershipStatus.ACTIVE, role=Role.STEWARD)
        .order_by("id")
        .values_list("id", flat=True)
    )
    others = Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE).exclude(pk=membership.pk)
    if stewards == [membership.pk] and others.exists():
        raise Conflict("You are the last steward: name another steward first.", code="last_steward")


def membership_leave(*, idao: IDAO, user: User, now: datetime | None = None) -> Membership:
    now = now or timezone.now()
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(idao=idao, user=user, status__in=["pending", "active"])
            .first()
        )
        if membership is None:
            raise NotMember(f"You are not a member of {idao.name}.")
        if membership.role == Role.STEWARD:
            _ensure_not_last_steward(idao, membership)
        membership.status = MembershipStatus.LEFT
        membership.ended_at = now
        membership.save(update_fields=["status", "ended_at"])
        return membership


def clean_hash(value: Any, name: str = "artifact_hash") -> str:
    if not isinstance(value, str) or not HASH_RE.match(value):
        raise InvalidInput(f"{name} is a 32-byte hex hash: 0x followed by 64 hex digits.")
    return value.lower()


def clean_policy(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput("behaviour_policy is a JSON object.")
    if len(json.dumps(value)) > MAX_POLICY_BYTES:
        raise InvalidInput(f"behaviour_policy is at most {MAX_POLICY_BYTES:,} bytes of JSON.")
    return value


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
    from .actions import clean_data_refs

    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("The model name is 1-120 characters.")
    artifact_hash = clean_hash(artifact_hash)
    refs = clean_data_refs(idao, manifest or [], allow_empty=True)
    try:
        with transaction.atomic():
            _require_steward(idao, steward)
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
            _require_steward(idao, steward)
            agent = Agent.objects.create(
                idao=idao, name=name, description=description or "", behaviour_policy=policy, created_by=steward
            )
            AgentVersion.objects.create(agent=agent, number=1, behaviour_policy=policy, artifact_hash=artifact_hash)
    except IntegrityError:
        raise Conflict(f"{idao.name} already has an agent named “{name}”.", code="name_taken") from None
    return agent
