"""The "contribution" subject kind quorums validates (registered in ContributionsConfig.ready()):
the facts validators see and the bytes they check, for many contributions in one query each.
Also the iDAO page's contributions panel (idaos.hooks.register_idao_panel)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import IO, Any

from django.core.files.storage import default_storage
from django.urls import reverse

from .models import Contribution, ContributionKind

SUBJECT_KIND = "contribution"


FACT_FIELDS = (
    "pk",
    "title",
    "kind",
    "idao__name",
    "owner__address",
    "size",
    "sha256",
    "keccak256",
    "declared_type",
    "sniffed_type",
    "flags",
    "licence",
    "description",
    "original_name",
    "usage_policy",
    "archive",
    "public_id",
)
_KIND_LABELS = dict(ContributionKind.choices)


def _facts(row: dict[str, Any], url_of: Callable[[str], str]) -> dict[str, Any]:
    return {
        "title": row["title"],
        "kind": str(_KIND_LABELS.get(row["kind"], row["kind"])),
        "idao": row["idao__name"],
        "owner": row["owner__address"],
        "size": row["size"],
        "sha256": row["sha256"],
        "keccak256": row["keccak256"],
        "declared_type": row["declared_type"],
        "sniffed_type": row["sniffed_type"],
        "flags": list(row["flags"]),
        "licence": row["licence"],
        "description": row["description"],
        "original_name": row["original_name"],
        "usage_policy": row["usage_policy"],
        "archive": row["archive"],
        "download_url": url_of(row["public_id"]),
    }


def _pks(refs: Sequence[str]) -> list[int]:
    return [int(r) for r in refs if str(r).isdigit()]


def describe(refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """ref -> facts, in one query (refs that name no contribution are left out)."""
    rows = Contribution.objects.filter(pk__in=_pks(refs)).values(*FACT_FIELDS)
    # One reverse() for the whole batch: public ids are URL-safe tokens ([A-Za-z0-9_-], never quoted).
    marker = "PUBLICID"
    template = reverse("contributions:contribution_file", args=[marker])
    return {str(row["pk"]): _facts(row, lambda pid: template.replace(marker, pid)) for row in rows}


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
