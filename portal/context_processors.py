from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    return {"PORTAL_CHAIN_ID": settings.PORTAL_CHAIN_ID, "SIWE_CHAIN_IDS": settings.SIWE_CHAIN_IDS}
