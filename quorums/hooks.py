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
    # Optional batch forms (one query for many subjects); the per-subject ones are used without them.
    describe_many: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None
    download_many: Callable[[list[str]], dict[str, Callable[[], tuple[IO[bytes], str]]]] | None = None

    def describe_all(self, refs: list[str]) -> dict[str, dict[str, Any]]:
        if self.describe_many is not None:
            return self.describe_many(refs)
        return {ref: self.describe(ref) for ref in refs}

    def openers(self, refs: list[str]) -> dict[str, Callable[[], tuple[IO[bytes], str]]]:
        """ref -> a callable opening the subject's bytes (nothing is opened yet)."""
        if self.download_many is not None:
            return self.download_many(refs)
        return {ref: (lambda ref=ref: self.download(ref)) for ref in refs}


_SUBJECT_KINDS: dict[str, SubjectKind] = {}
_ON_ROUND_CLOSED: list[Callable[[Round], None]] = []
_ON_ROUND_ACCEPTED: list[Callable[[Round], None]] = []
_ON_VERDICT: list[Callable[[Round], None]] = []
_ON_ROUNDS_CLOSED: list[Callable[[list[Round]], None]] = []
_ON_ROUNDS_ACCEPTED: list[Callable[[list[Round]], None]] = []
_ON_VERDICTS: list[Callable[[list[Round]], None]] = []


def register_subject_kind(
    kind: str,
    *,
    describe: Callable[[str], dict[str, Any]],
    download: Callable[[str], tuple[IO[bytes], str]],
    describe_many: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
    download_many: Callable[[list[str]], dict[str, Callable[[], tuple[IO[bytes], str]]]] | None = None,
) -> None:
    """describe(ref) -> facts validators see (title, size, flags); download(ref) -> (binary file, filename).
    Optionally the same for many refs at once: describe_many(refs) -> {ref: facts},
    download_many(refs) -> {ref: callable returning (binary file, filename)}."""
    _SUBJECT_KINDS[kind] = SubjectKind(kind, describe, download, describe_many, download_many)


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


def on_rounds_closed(fn: Callable[[list[Round]], None]) -> Callable[[list[Round]], None]:
    """The batch form of on_round_closed: called once with every round a closing transaction
    closed (one or many, any outcome), after the per-round on_round_closed hooks."""
    return _add(_ON_ROUNDS_CLOSED, fn)


def on_rounds_accepted(fn: Callable[[list[Round]], None]) -> Callable[[list[Round]], None]:
    """The batch form of on_round_accepted: called once with the accepted rounds of a closing
    transaction, after the per-round on_round_accepted hooks."""
    return _add(_ON_ROUNDS_ACCEPTED, fn)


def on_verdicts(fn: Callable[[list[Round]], None]) -> Callable[[list[Round]], None]:
    """The batch form of on_verdict: called once with the rounds that received new verdicts in
    one transaction."""
    return _add(_ON_VERDICTS, fn)


def remove(fn: Callable) -> None:
    for hooks in (
        _ON_ROUND_CLOSED,
        _ON_ROUND_ACCEPTED,
        _ON_VERDICT,
        _ON_ROUNDS_CLOSED,
        _ON_ROUNDS_ACCEPTED,
        _ON_VERDICTS,
        _SWEEPS,
    ):
        if fn in hooks:
            hooks.remove(fn)


def run_closed(round_: Round) -> None:
    run_closed_many([round_])


def run_closed_many(rounds: list[Round]) -> None:
    """Every closed-round hook, then every accepted-round hook (per round, then batch), so for any
    one round on_round_closed runs before on_round_accepted, as documented."""
    if not rounds:
        return
    for round_ in rounds:
        for fn in list(_ON_ROUND_CLOSED):
            fn(round_)
    for fn in list(_ON_ROUNDS_CLOSED):
        fn(rounds)
    accepted = [r for r in rounds if r.outcome == "accepted"]
    if not accepted:
        return
    for round_ in accepted:
        for fn in list(_ON_ROUND_ACCEPTED):
            fn(round_)
    for fn in list(_ON_ROUNDS_ACCEPTED):
        fn(accepted)


def run_verdict(round_: Round) -> None:
    run_verdicts([round_])


def run_verdicts(rounds: list[Round]) -> None:
    for round_ in rounds:
        for fn in list(_ON_VERDICT):
            fn(round_)
    for fn in list(_ON_VERDICTS):
        fn(rounds)


_SWEEPS: list[Callable[[], None]] = []


def on_sweep(fn: Callable[[], None]) -> Callable[[], None]:
    """Periodic work a downstream app adds to the quorums sweep (e.g. routing waiting subjects)."""
    return _add(_SWEEPS, fn)


def run_sweeps() -> None:
    for fn in list(_SWEEPS):
        fn()
