"""The JSON shape of a contribution: the upload's answer and GET /api/v1/contributions."""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ContributionOut(Schema):
    id: str  # the public id
    idao: str
    title: str
    kind: str
    state: str
    size: int
    sha256: str
    keccak256: str
    original_name: str
    sniffed_type: str
    flags: list[str]
    round: int | None
    waiting_reason: str
    usage_policy: dict[str, Any]  # as the contributor asked: allowed_uses, price, quota, expiry_days
    page: str
