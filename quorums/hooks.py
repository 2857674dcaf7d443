"""The seams through which downstream apps plug into validation without quorums importing them.

Everything here takes a batch: one item is a batch of one. A subject kind (contributions
registers "contribution") tells quorums how to describe many subjects and how to open their
bytes; the event hooks receive the sequence of rounds one transaction touched and run inside it,
so whatever they write commits or rolls back together with the verdicts or the round outcomes.
Downstream apps register in their AppConfig.ready(), nowhere else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Round

Opener = Callable[[], tuple[IO[bytes], str]]
RoundsHook = Callable[[Sequence["Round"]], None]


@dataclass(frozen=True)
class SubjectKind:
    """describe(refs) -> {ref: facts validators see (title, size, flags)}; open(refs) ->
    {ref: a callable opening the subject's bytes as (binary file, filename)}. Refs naming no
    subject are left out of both answers."""

    kind: str
    describe: Callable[[Sequence[str]], dict[str, dict[str, Any]]]
    open: Callable[[Sequence[str]], dict[str, Opener]]


_SUBJECT_KINDS: dict[str, SubjectKind] = {}
_ON_VERDICTS: list[RoundsHook] = []
_ON_ROUNDS_CLOSED: list[RoundsHook] = []
_ON_ROUNDS_ACCEPTED: list[RoundsHook] = []
_ON_SWEEP: list[Callable[[], object]] = []
_ON_APPEALS_DECIDED: list[Callable[[Sequence[Any]], None]] = []


def register_subject_kind(
    kind: str,
    *,
    describe: Callable[[Sequence[str]], dict[str, dict[str, Any]]],
    open: Callable[[Sequence[str]], dict[str, Opener]],
) -> None:
    _SUBJECT_KINDS[kind] = SubjectKind(kind, describe, open)


def subject_kind(kind: str) -> SubjectKind:
    try:
        return _SUBJECT_KINDS[kind]
    except KeyError:
        raise LookupError(f"No subject kind {kind!r} is registered.") from None


def _add(hooks: list, fn: Callable) -> Callable:
    if fn not in hooks:
        hooks.append(fn)
    return fn


def on_verdicts(fn: RoundsHook) -> RoundsHook:
    """Called once with the rounds that received new verdicts, inside the verdicts' transaction
    (e.g. to mark their subjects in review)."""
    return _add(_ON_VERDICTS, fn)


def on_rounds_closed(fn: RoundsHook) -> RoundsHook:
    """Called once with every round a closing transaction closed (any outcome), inside it."""
    return _add(_ON_ROUNDS_CLOSED, fn)


def on_rounds_accepted(fn: RoundsHook) -> RoundsHook:
    """Called once with the accepted rounds of a closing transaction, after the on_rounds_closed
    hooks, inside the transaction. DAT minting belongs here."""
    return _add(_ON_ROUNDS_ACCEPTED, fn)


def on_appeals_decided(fn: Callable[[Sequence[Any]], None]) -> Callable[[Sequence[Any]], None]:
    """Called once with the appeals (quorums.models.Appeal) a closing transaction decided, inside
    it, before the closed-rounds hooks run for their panel rounds (e.g. to accept a contribution
    whose rejection was overturned, or re-score its DAT)."""
    return _add(_ON_APPEALS_DECIDED, fn)


def run_appeals_decided(appeals: Sequence[Any]) -> None:
    for fn in list(_ON_APPEALS_DECIDED):
        fn(appeals)


def on_sweep(fn: Callable[[], object]) -> Callable[[], object]:
    """Periodic work a downstream app adds to the quorums sweep (e.g. routing waiting subjects)."""
    return _add(_ON_SWEEP, fn)


def run_verdicts(rounds: Sequence[Round]) -> None:
    if not rounds:
        return
    for fn in list(_ON_VERDICTS):
        fn(rounds)


def run_closed(rounds: Sequence[Round]) -> None:
    """Every closed-rounds hook, then every accepted-rounds hook with the accepted ones."""
    if not rounds:
        return
    for fn in list(_ON_ROUNDS_CLOSED):
        fn(rounds)
    accepted = [r for r in rounds if r.outcome == "accepted"]
    if not accepted:
        return
    for fn in list(_ON_ROUNDS_ACCEPTED):
        fn(accepted)


def run_sweeps() -> None:
    for fn in list(_ON_SWEEP):
        fn()
