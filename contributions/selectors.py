"""Contribution reads, shaped for pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, QuerySet
from django.urls import reverse

from portal.errors import NotFound
from quorums.selectors import (
    VALIDATOR_SCOPE,
    appeal_options,
    has_active_assignment,
    has_active_seat,
    reject_reasons,
    score_breakdowns,
)

from .hooks import download_granted
from .models import Contribution
from .subject import SUBJECT_KIND


def contribution_list_of_owner(*, user: Any, limit: int = 200) -> QuerySet[Contribution]:
    """The user's contributions, newest first, with their round, quorum and verdict count."""
    return (
        Contribution.objects.filter(owner=user)
        .select_related("idao", "round", "round__quorum")
        # dat_token: the DAT minted from it (dats' reverse relation, read by name: no import downstream).
        .annotate(verdict_count=Count("round__verdicts"), dat_token=Max("dat__id"))
        .order_by("-id")[:limit]
    )


FLAG_SENTENCES = {
    "type_mismatch": "the bytes contradict the file's extension or declared type",
    "executable_content": "the file holds executable code",
    "archive_unsafe_paths": "the archive holds absolute or parent-directory paths, or links",
    "duplicate_of_other_owner": "the same content was already accepted from someone else",
    "too_small": "the file holds fewer than 16 non-whitespace bytes, too little to be useful",
}


def contributions_with_findings(contributions: Any) -> list[Contribution]:
    """The contributions, each with `findings`: its upload flags with a sentence each, then the
    reasons its round's rejecting verdicts gave (`[(code, sentence)]`, one query for all), and
    `breakdown`: its round's score and each validator's scores and reasons (two queries for all)."""
    rows = list(contributions)
    reasons = reject_reasons([c.round_id for c in rows if c.round_id])
    breakdowns = score_breakdowns([c.round_id for c in rows if c.round_id])
    options = appeal_options([c.round_id for c in rows if c.round_id])
    for c in rows:
        c.breakdown = breakdowns.get(c.round_id)
        c.appeal_option = options.get(c.round_id)
        flags = [(flag, FLAG_SENTENCES.get(flag, "")) for flag in c.flags or []]
        c.findings = flags + [pair for pair in reasons.get(c.round_id, []) if pair not in flags]
    return rows


def contribution_dict(c: Contribution) -> dict[str, Any]:
    """The JSON shape of a contribution (the upload's answer and GET /api/v1/contributions)."""
    return {
        "id": c.public_id,
        "idao": c.idao.slug,
        "title": c.title,
        "kind": c.kind,
        "state": c.state,
        "size": c.size,
        "sha256": c.sha256,
        "keccak256": c.keccak256,
        "original_name": c.original_name,
        "sniffed_type": c.sniffed_type,
        "flags": c.flags,
        "round": c.round_id,
        "waiting_reason": c.waiting_reason,
        "usage_policy": c.usage_policy,
        "page": reverse("contributions:contribution_mine"),
    }


def contribution_for_download(*, public_id: str, user: Any, token: Any = None) -> Contribution:
    """The contribution if `user` may fetch its file (owner, committee member of its open round,
    or a registered grant); NotFound otherwise, so a refusal reveals nothing.

    With a bearer `token` (an ApiToken), only two doors open: a `validator`-scoped token of an
    active validator seated on the contribution's current, open round for exactly this file, or
    a registered grant (dats: an access grant)."""
    c = Contribution.objects.filter(public_id=public_id).first()
    if c is None or not getattr(user, "is_authenticated", False):
        raise NotFound("No such file.")
    if token is not None:
        if VALIDATOR_SCOPE in (token.scopes or []) and has_active_seat(
            user=user, round_id=c.round_id, subject_kind=SUBJECT_KIND, subject_ref=str(c.pk), content_hash=c.sha256
        ):
            return c
        if download_granted(user, c):
            return c
        raise NotFound("No such file.")
    if c.owner_id == user.pk:
        return c
    if has_active_assignment(user=user, subject_kind=SUBJECT_KIND, subject_ref=str(c.pk)):
        return c
    if download_granted(user, c):
        return c
    raise NotFound("No such file.")
