"""Forming an iDAO: the founder becomes its first steward."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import User

from ..errors import Conflict, InvalidInput
from ..models import IDAO, Domain, Membership, MembershipStatus, Role
from ..rules import charter_of, clean_charter

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")


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
