"""Contributions over the JSON API. Uploads are a plain Django view (streaming multipart with
the hashing handler): POST /api/v1/contributions/upload (contributions.views.upload_api),
described in OpenAPI by contributions.openapi and answering the same ContributionOut."""

from __future__ import annotations

from typing import Any

from portal.auth import api_auth
from portal.http import PortalRequest
from portal.routers import PortalRouter

from .schemas import ContributionOut
from .selectors import contribution_dict, contribution_list_of_owner

router = PortalRouter(tags=["contributions"])


@router.get(
    "/contributions",
    auth=api_auth(),  # reading your own account: any valid token
    response={200: list[ContributionOut]},
    summary="Your contributions, newest first",
)
def my_contributions(request: PortalRequest) -> list[dict[str, Any]]:
    """Your contributions, newest first, with their state and round."""
    return [contribution_dict(c) for c in contribution_list_of_owner(user=request.auth)]
