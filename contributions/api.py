"""Contributions over the JSON API. Uploads are a plain Django view (streaming multipart with
the hashing handler): POST /api/v1/contributions/upload (contributions.views.upload_api)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from portal.auth import api_auth

from .selectors import contribution_dict, contribution_list_of_owner

router = Router(tags=["contributions"])


@router.get("/contributions", auth=api_auth())
def my_contributions(request: HttpRequest) -> list[dict]:
    """Your contributions, newest first, with their state and round."""
    return [contribution_dict(c) for c in contribution_list_of_owner(user=request.auth)]
