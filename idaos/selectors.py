"""Reads other apps and pages rely on. Membership questions are answered from active rows only."""

from __future__ import annotations

from typing import Any

from .models import IDAO, Membership, MembershipStatus, Role


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def is_member(*, idao: IDAO, user: Any) -> bool:
    """True when `user` holds an active membership (member or steward) of `idao`."""
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(idao=idao, user_id=uid, status=MembershipStatus.ACTIVE).exists()


def is_steward(*, idao: IDAO, user: Any) -> bool:
    uid = _user_id(user)
    if uid is None:
        return False
    return Membership.objects.filter(
        idao=idao, user_id=uid, status=MembershipStatus.ACTIVE, role=Role.STEWARD
    ).exists()


def member_addresses(idao: IDAO) -> list[str]:
    """EIP-55 addresses of the active members, in joining order."""
    return list(
        Membership.objects.filter(idao=idao, status=MembershipStatus.ACTIVE)
        .order_by("joined_at", "id")
        .values_list("user__address", flat=True)
    )
