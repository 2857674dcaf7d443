"""Registries that downstream apps fill from their AppConfig.ready(), so idaos imports none of them.

- `register_action(kind, validate=, execute=, describe=)`: a proposal action kind owned downstream
  (quorums registers "trust_quorum" and "drop_quorum"). `validate(idao, payload)` returns the
  cleaned payload or raises DomainError; `execute(proposal, payload)` runs inside the closing
  transaction and returns a JSON-able dict (or None) recorded with the execution;
  `describe(payload)` returns a sentence for humans.
- `register_data_ref_checker(fn)`: `fn(idao, data_ref, purpose)` raises DomainError when a data
  reference may not enter a training manifest (dats checks the DAT exists and allows training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActionHandler:
    kind: str
    validate: Callable[[Any, dict], dict]
    execute: Callable[[Any, dict], dict | None]
    describe: Callable[[dict], str]


_actions: dict[str, ActionHandler] = {}
_data_ref_checkers: list[Callable[[Any, str, str], None]] = []


def register_action(
    kind: str,
    *,
    validate: Callable[[Any, dict], dict],
    execute: Callable[[Any, dict], dict | None],
    describe: Callable[[dict], str],
) -> None:
    """Register (or re-register, idempotently for the same kind) a downstream action kind."""
    _actions[kind] = ActionHandler(kind=kind, validate=validate, execute=execute, describe=describe)


def action_handler(kind: str) -> ActionHandler | None:
    return _actions.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_actions)


def register_data_ref_checker(fn: Callable[[Any, str, str], None]) -> None:
    if fn not in _data_ref_checkers:
        _data_ref_checkers.append(fn)


def check_data_ref(idao: Any, data_ref: str, purpose: str) -> None:
    """Run every registered checker; the first to object raises its DomainError."""
    for fn in _data_ref_checkers:
        fn(idao, data_ref, purpose)


_idao_panels: list[Callable[[Any], dict | None]] = []


def register_idao_panel(fn: Callable[[Any], dict | None]) -> None:
    """A section of the iDAO page owned downstream (quorums: trusted quorums). `fn(idao)` returns
    None or {"title": str, "items": [{"label": str, "url": str, "note": str}], "empty": str}."""
    if fn not in _idao_panels:
        _idao_panels.append(fn)


def idao_panels(idao: Any) -> list[dict]:
    return [panel for panel in (fn(idao) for fn in _idao_panels) if panel]


# The proposal builder's downstream facts: what a data reference is (dats), which quorums exist
# (quorums). Both are reads for pages; nothing here decides a rule.
_data_ref_describers: list[Callable[[list[str]], dict[str, dict]]] = []
_builder_choices: dict[str, Callable[[Any], list[tuple[int, str]]]] = {}


def register_data_ref_describer(fn: Callable[[list[str]], dict[str, dict]]) -> None:
    """`fn(refs)` returns {ref: {"label": str, "idao_id": int, "idao": str, "problem": str | None}}
    for the references it knows (dats: a DAT's title, iDAO and why training is not allowed)."""
    if fn not in _data_ref_describers:
        _data_ref_describers.append(fn)


def describe_data_refs(refs: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for fn in _data_ref_describers:
        out.update(fn(refs))
    return out


def register_builder_choices(name: str, fn: Callable[[Any], list[tuple[int, str]]]) -> None:
    """`fn(idao)` lists (id, label) for a proposal builder field owned downstream ("quorum")."""
    _builder_choices[name] = fn


def builder_choices(name: str, idao: Any) -> list[tuple[int, str]]:
    fn = _builder_choices.get(name)
    return fn(idao) if fn else []
