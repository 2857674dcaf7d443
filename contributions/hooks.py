"""The seam through which downstream apps widen who may download a contribution's file.

dats registers its access grants here (in DatsConfig.ready()): a callable (user, contribution)
-> bool that lets a user fetch the file beyond its owner and its round's committee."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Contribution

DownloadGrant = Callable[[Any, "Contribution"], bool]
_DOWNLOAD_GRANTS: list[DownloadGrant] = []


def register_download_grant(fn: DownloadGrant) -> None:
    if fn not in _DOWNLOAD_GRANTS:
        _DOWNLOAD_GRANTS.append(fn)


def download_granted(user: Any, contribution: Contribution) -> bool:
    return any(grant(user, contribution) for grant in _DOWNLOAD_GRANTS)
