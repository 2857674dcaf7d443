"""Contributions over the JSON API. Uploads are a plain Django view (streaming multipart with
the hashing handler): POST /api/v1/contributions/upload."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from portal.auth import api_auth

from .models import Contribution
from .views import contribution_json

router = Router(tags=["contributions"])


@router.get("/contributions", auth=api_auth)
def my_contributions(request: HttpRequest) -> list[dict]:
    """Your contributions, newest first, with their state and round."""
    rows = Contribution.objects.filter(owner=request.auth).select_related("idao").order_by("-id")[:200]
    return [contribution_json(c) for c in rows]


from .explorer_api import explorer_router  # noqa: E402  (DATs, access grants, model manifests)

router.add_router("", explorer_router, tags=["dats"])
