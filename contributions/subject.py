"""The "contribution" subject kind quorums validates (registered in ContributionsConfig.ready()):
the facts validators see and the bytes they check, for many contributions in one query each.
Also the iDAO page's contributions panel (idaos.hooks.register_idao_panel)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import IO, Any

from django.core.files.storage import default_storage
from django.urls import reverse

from .models import Contribution

SUBJECT_KIND = "contribution"


def _facts(c: Contribution) -> dict[str, Any]:
    return {
        "title": c.title,
        "kind": c.get_kind_display(),
        "idao": c.idao.name,
        "owner": c.owner.address,
        "size": c.size,
        "sha256": c.sha256,
        "keccak256": c.keccak256,
        "declared_type": c.declared_type,
        "sniffed_type": c.sniffed_type,
        "flags": list(c.flags),
        "licence": c.licence,
        "description": c.description,
        "original_name": c.original_name,
        "usage_policy": c.usage_policy,
        "archive": c.archive,
        "download_url": reverse("contributions:contribution_file", args=[c.public_id]),
    }


def _pks(refs: Sequence[str]) -> list[int]:
    return [int(r) for r in refs if str(r).isdigit()]


def describe(refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """ref -> facts, in one query (refs that name no contribution are left out)."""
    rows = Contribution.objects.select_related("idao", "owner").filter(pk__in=_pks(refs))
    return {str(c.pk): _facts(c) for c in rows}


def _open_file(name: str, original: str) -> tuple[IO[bytes], str]:
    return default_storage.open(name, "rb"), original


def open(refs: Sequence[str]) -> dict[str, Callable[[], tuple[IO[bytes], str]]]:
    """ref -> a callable opening the file (nothing is opened yet), in one query."""
    rows = Contribution.objects.filter(pk__in=_pks(refs)).values_list("pk", "storage_name", "original_name")
    return {str(pk): partial(_open_file, name, original) for pk, name, original in rows}


def idao_panel(idao: Any) -> dict:
    """The iDAO page's way in to contributing."""
    return {
        "title": "Contributions",
        "items": [
            {
                "label": "Contribute a file",
                "url": f"{reverse('contributions:contribution_new')}?idao={idao.slug}",
                "note": "members only; it is validated by a quorum this iDAO trusts",
            },
        ],
    }
