"""The outbox writer every app's services call: `emit(kind=..., subject=..., payload=...)` writes an
`Event` row in the caller's transaction and, after commit, hands its id to the fan-out hooks
(the notifications app registers one in its AppConfig.ready()). A rolled-back transaction leaves
no row and calls no hook. portal imports no app downstream of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction

from .models import Event, User

_FANOUT_HOOKS: list[Callable[[int], None]] = []


def register_fanout(hook: Callable[[int], None]) -> None:
    """Called with an event id after the emitting transaction commits."""
    if hook not in _FANOUT_HOOKS:
        _FANOUT_HOOKS.append(hook)


def _user_id(value: Any) -> int | None:
    if value is None:
        return None
    return int(value.pk if isinstance(value, User) else value)


def emit(
    *,
    kind: str,
    idao: Any = None,
    subject: str,
    actor: Any = None,
    payload: dict | None = None,
    recipients: Iterable[Any] | None = None,
) -> Event:
    """Record that `kind` happened to `subject` (in the caller's transaction). `idao` is an iDAO
    object or id; `actor` and `recipients` are users or user ids (None: resolved by kind)."""
    idao_id = getattr(idao, "pk", idao)
    listed = None if recipients is None else sorted({uid for uid in map(_user_id, recipients) if uid is not None})
    event = Event.objects.create(
        kind=kind,
        idao_id=idao_id,
        subject=subject,
        actor_id=_user_id(actor),
        payload=payload or {},
        recipients=listed,
    )
    event_id = event.pk
    for hook in list(_FANOUT_HOOKS):
        transaction.on_commit(lambda hook=hook: hook(event_id))
    return event
