"""The outbox writer every app's services call: `emit(kind=..., subject=..., payload=...)` (or
`emit_many([...])` for a batch, one INSERT) writes `Event` rows in the caller's transaction and,
after commit, hands their ids to the fan-out hooks (the notifications app registers one in its
AppConfig.ready()). A rolled-back transaction leaves no row and calls no hook. portal imports no
app downstream of it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction

from .models import Event, User
from .sql import bulk_insert

_FANOUT_HOOKS: list[Callable[[list[int]], None]] = []


def register_fanout(hook: Callable[[list[int]], None]) -> None:
    """`hook(event_ids)` is called after the emitting transaction commits."""
    if hook not in _FANOUT_HOOKS:
        _FANOUT_HOOKS.append(hook)


def _user_id(value: Any) -> int | None:
    if value is None:
        return None
    return int(value.pk if isinstance(value, User) else value)


def _row(
    *,
    kind: str,
    subject: str,
    idao: Any = None,
    actor: Any = None,
    payload: dict | None = None,
    recipients: Iterable[Any] | None = None,
) -> Event:
    listed = None if recipients is None else sorted({uid for uid in map(_user_id, recipients) if uid is not None})
    return Event(
        kind=kind,
        idao_id=getattr(idao, "pk", idao),
        subject=subject,
        actor_id=_user_id(actor),
        payload=payload or {},
        recipients=listed,
    )


def emit_many(events: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Record a batch of events (each a mapping of emit()'s arguments) with one INSERT."""
    if not events:
        return []
    rows = bulk_insert(Event, [_row(**e) for e in events])  # one JSON document (portal.sql)
    ids = [row.pk for row in rows]
    for hook in list(_FANOUT_HOOKS):
        transaction.on_commit(partial(hook, ids))
    return rows


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
    data = {"kind": kind, "idao": idao, "subject": subject, "actor": actor, "payload": payload}
    return emit_many([{**data, "recipients": recipients}])[0]


def first_in(key: str, seconds: int) -> bool:
    """True the first time `key` is seen in `seconds` (an atomic cache add): a throttle for events
    a caller could otherwise repeat at will (a denied request retried in a loop)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return bool(cache.add(f"events:first:{digest}", 1, timeout=seconds))
