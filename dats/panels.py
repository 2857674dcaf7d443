"""The DATs panel of a profile: the DATs a person owns; registered from DatsConfig.ready()."""

from __future__ import annotations

from typing import Any

from portal.profiles import ProfilePanel

from .models import DAT


def dats_profile_panel(person: Any, viewer: Any) -> ProfilePanel | None:
    dats = list(DAT.objects.filter(owner=person).select_related("idao").order_by("-minted_at", "-id")[:20])
    if not dats:
        return None
    return ProfilePanel("DATs", "dats/_profile_dats.html", {"dats": dats}, "dats")
