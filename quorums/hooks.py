"""The seams through which downstream apps plug into validation without quorums importing them.

A subject kind (dats registers "contribution") tells quorums how to describe a subject and how to
open its bytes; hooks run inside the closing transaction, so whatever they write commits or rolls
back together with the round's outcome, slashes and anchor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Round


@dataclass(frozen=True)
class SubjectKind:
    kind: str
    describe: Callable[[str], dict[str, Any]]
    download: Callable[[str], tuple[IO[bytes], str]]


_SUBJECT_KINDS: dict[str, SubjectKind] = {}
_ON_ROUND_CLOSED: list[Callable[[Round], None]] = []
_ON_ROUND_ACCEPTED: list[Callable[[Round], None]] = []
_ON_VERDICT: list[Callable[[Round], None]] = []


def register_subject_kind(
    kind: str,
    *,
    describe: Callable[[str], dict[str, Any]],
    download: Callable[[str], tuple[IO[bytes], str]],
) -> None:
    """describe(ref) -> facts validators see (title, size, flags); download(ref) -> (binary file, filename)."""
    _SUBJECT_KINDS[kind] = SubjectKind(kind, describe, download)


def subject_kind(kind: str) -> SubjectKind:
    try:
        return _SUBJECT_KINDS[kind]
    except KeyError:
        raise LookupError(f"No subject kind {kind!r} is registered.") from None


def _add(hooks: list, fn: Callable) -> Callable:
    if fn not in hooks:
        hooks.append(fn)
    return fn


def on_round_closed(fn: Callable[[Round], None]) -> Callable[[Round], None]:
    """Called for every closed round (any outcome), inside the closing transaction."""
    return _add(_ON_ROUND_CLOSED, fn)


def on_round_accepted(fn: Callable[[Round], None]) -> Callable[[Round], None]:
    """Called for accepted rounds only, after on_round_closed hooks, inside the closing transaction.
    DAT minting belongs here."""
    return _add(_ON_ROUND_ACCEPTED, fn)


def on_verdict(fn: Callable[[Round], None]) -> Callable[[Round], None]:
    """Called inside the transaction that records a verdict (e.g. to mark a subject in review)."""
    return _add(_ON_VERDICT, fn)


def remove(fn: Callable) -> None:
    for hooks in (_ON_ROUND_CLOSED, _ON_ROUND_ACCEPTED, _ON_VERDICT, _SWEEPS):
        if fn in hooks:
            hooks.remove(fn)


def run_closed(round_: Round) -> None:
    for fn in list(_ON_ROUND_CLOSED):
        fn(round_)
    if round_.outcome == "accepted":
        for fn in list(_ON_ROUND_ACCEPTED):
            fn(round_)


def run_verdict(round_: Round) -> None:
    for fn in list(_ON_VERDICT):
        fn(round_)


_SWEEPS: list[Callable[[], None]] = []


def on_sweep(fn: Callable[[], None]) -> Callable[[], None]:
    """Periodic work a downstream app adds to the quorums sweep (e.g. routing waiting subjects)."""
    return _add(_SWEEPS, fn)


def run_sweeps() -> None:
    for fn in list(_SWEEPS):
        fn()
