"""API tokens for pipelines: a signed-in user creates tokens for themselves or for a subject a
downstream app vouches for (dats registers `idao:<slug>` for stewards, whose tokens pay from the
iDAO's treasury). The raw value is shown once; only its SHA-256 is stored. Scoped; the list shows
the last use; revoking is immediate.

"Token" alone means a DAT elsewhere in the portal; these are always "API tokens"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .auth import forget_token
from .errors import DomainError, NotFound
from .models import ApiToken, User

SCOPES = {
    "dats:access": "Request access grants to DATs and download the granted files",
    "usage:report": "Report usage of models and agents (rewards)",
    "validator": "Run a validator node: read your assignments, download the files of rounds you sit on, submit verdicts",
}
MAX_ACTIVE_TOKENS = 50


class InvalidToken(DomainError):
    code = "invalid_token_request"
    status = 422


@dataclass(frozen=True)
class TokenSubject:
    """A kind of subject an API token may act for, named `<prefix>:<rest>`.
    choices(user) -> [(subject, label)] the user may pick; authorise(user, subject) raises a
    DomainError when the user may not create a token for that subject."""

    prefix: str
    choices: Callable[[User], list[tuple[str, str]]]
    authorise: Callable[[User, str], None]


_SUBJECTS: dict[str, TokenSubject] = {}


def register_token_subject(
    prefix: str, *, choices: Callable[[User], list[tuple[str, str]]], authorise: Callable[[User, str], None]
) -> None:
    """Called from a downstream AppConfig.ready() (dats registers "idao")."""
    _SUBJECTS[prefix] = TokenSubject(prefix, choices, authorise)


def api_token_subject_choices(user: User) -> list[tuple[str, str]]:
    """Every subject besides the user themselves that the user may create a token for."""
    return [choice for subject in _SUBJECTS.values() for choice in subject.choices(user)]


def api_token_create(*, user: User, name: str, subject: str, scopes: list[str]) -> tuple[str, ApiToken]:
    """Create a token; returns (raw value, token). The raw value is never stored."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise InvalidToken("Name the token (1-80 characters), e.g. the pipeline that will use it.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidToken(f"Choose one or more scopes among {', '.join(SCOPES)}.")
    subject = (subject or "").strip()
    if subject:
        kind = _SUBJECTS.get(subject.partition(":")[0]) if ":" in subject else None
        if kind is None:
            raise InvalidToken("A token acts for you or for an iDAO you steward (idao:<slug>).")
        kind.authorise(user, subject)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialise the count below per user
        if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
            raise InvalidToken(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
        raw, prefix, digest = ApiToken.generate()
        token = ApiToken.objects.create(
            user=user, name=name, subject=subject, scopes=sorted(set(scopes)), prefix=prefix, key_hash=digest
        )
    return raw, token


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("You have no such token.", code="token_not_found")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_token(token.key_hash)
    token.refresh_from_db()
    return token
