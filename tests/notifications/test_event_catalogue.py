"""The catalogue of event kinds is whole: every kind a service emits is registered (one line in
notifications.kinds.KINDS gives it a label, a preference row and a feed title), and every
registered kind has an emitter. Read from the source with `ast`, so a new emit() of an
unregistered kind fails here, not silently in someone's inbox."""

from __future__ import annotations

import ast
from pathlib import Path

from notifications.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "ledger", "idaos", "quorums", "contributions", "dats", "rewards", "notifications")
# Kinds an emitter picks from a table rather than naming them in the emit() call.
FROM_TABLES = {"proposal.closes_24h", "proposal.closes_1h"}


def _constants(node: ast.AST) -> set[str]:
    """String constants a `kind` expression can evaluate to (a literal, a conditional, a dict's values)."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "." in sub.value:
            found.add(sub.value)
    return found


def emitted_kinds() -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "emit":
                    for kw in node.keywords:
                        if kw.arg == "kind":
                            for kind in _constants(kw.value):
                                kinds.setdefault(kind, set()).add(str(path.relative_to(ROOT)))
                elif name == "emit_many":
                    for sub in ast.walk(node):
                        values: list[ast.AST] = []
                        if isinstance(sub, ast.Dict):
                            values = [
                                v
                                for k, v in zip(sub.keys, sub.values, strict=True)
                                if isinstance(k, ast.Constant) and k.value == "kind"
                            ]
                        elif isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "dict":
                            values = [kw.value for kw in sub.keywords if kw.arg == "kind"]
                        for value in values:
                            for kind in _constants(value):
                                kinds.setdefault(kind, set()).add(str(path.relative_to(ROOT)))
    return kinds


def test_every_emitted_kind_is_registered_and_every_registered_kind_is_emitted():
    emitted = emitted_kinds()
    unregistered = {kind: sorted(where) for kind, where in emitted.items() if kind not in KINDS}
    assert unregistered == {}, "add each to notifications.kinds.KINDS (one line: kind and label)"
    never = sorted(set(KINDS) - set(emitted) - FROM_TABLES)
    assert never == []
