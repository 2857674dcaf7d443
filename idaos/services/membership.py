"""Memberships: joining, steward decisions on requests, roles and leaving. An iDAO always keeps
a steward: the last one can neither step down nor leave (pending requests count too, so an
approval-only iDAO is never left with requests nobody may decide)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.events import emit
from portal.models import User

from ..errors import Conflict, InvalidInput, NotFound, NotMember, NotSteward
from ..models import IDAO, Membership, MembershipPolicy, MembershipStatus, Role
from ..selectors import is_steward


def membership_join(*, idao: IDAO, user: User, now: datetime | None = None) -> Membership:
    """Join an open iDAO, or request to join one that admits by steward approval."""
    now = now or timezone.now()
    open_policy = idao.membership_policy == MembershipPolicy.OPEN
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                idao=idao,
                user=user,
                status=MembershipStatus.ACTIVE if open_policy else MembershipStatus.PENDING,
                requested_at=now,
                joined_at=now if open_policy else None,
            )
            if not open_policy:
                emit(
                    kind="membership.requested",
                    idao=idao,
                    subject=f"membership:{membership.pk}",
                    actor=user,
                    payload={
                        "title": f"{user.address} asked to join {idao.name}",
                        "url": f"/idaos/{idao.slug}/members",
                    },
                )
            return membership
    except IntegrityError:
        current = Membership.objects.filter(idao=idao, user=user, status__in=["pending", "active"]).first()
        if current and current.status == MembershipStatus.PENDING:
            raise Conflict("You already asked to join; a steward will decide.", code="already_requested") from None
        raise Conflict(f"You are already a member of {idao.name}.", code="already_member") from None


def steward_require(*, idao: IDAO, user: User) -> None:
    """Raise NotSteward unless `user` is an active steward of `idao`."""
    if not is_steward(idao=idao, user=user):
        raise NotSteward(f"Only stewards of {idao.name} may do this.")


def membership_decide(
    *, idao: IDAO, steward: User, membership_id: int, approve: bool, now: datetime | None = None
) -> Membership:
    """A steward approves or denies a pending request (the first decision wins)."""
    now = now or timezone.now()
    with transaction.atomic():
        steward_require(idao=idao, user=steward)
        updated = Membership.objects.filter(pk=membership_id, idao=idao, status=MembershipStatus.PENDING).update(
            status=MembershipStatus.ACTIVE if approve else MembershipStatus.DENIED,
            joined_at=now if approve else None,
            ended_at=None if approve else now,
        )
        if not updated:
            raise Conflict("This request is no longer pending.", code="not_pending")
        membership = Membership.objects.get(pk=membership_id)
        emit(
            kind="membership.approved" if approve else "membership.denied",
            idao=idao,
            subject=f"membership:{membership.pk}",
            actor=steward,
            recipients=[membership.user_id],
            payload={"title": idao.name, "url": f"/idaos/{idao.slug}/"},
        )
        return membership


def membership_set_role(*, idao: IDAO, steward: User, membership_id: int, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput("role is member or steward.")
    with transaction.atomic():
        steward_require(idao=idao, user=steward)
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
    if stewards == [membership.pk]:
        raise Conflict(f"You are the last steward of {idao.name}: name another steward first.", code="last_steward")


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
