"""One code per meaning, one status per code: every DomainError code raised anywhere in the apps
(class attributes and `code="…"` arguments, read with ast) is in portal.errors.CODES, with the
status the raising code gives it where that status is written down."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.errors import CODES, STATUS_EXCEPTIONS

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "ledger", "idaos", "quorums", "contributions", "dats", "rewards", "notifications")


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(), filename=str(path))


def _error_classes() -> dict[str, tuple[str | None, int | None, list[str], str]]:
    """name -> (code, status, base names, where) for every class that sets code or status."""
    out = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                attrs = {
                    st.targets[0].id: st.value.value
                    for st in node.body
                    if isinstance(st, ast.Assign)
                    and len(st.targets) == 1
                    and isinstance(st.targets[0], ast.Name)
                    and isinstance(st.value, ast.Constant)
                }
                bases = [ast.unparse(b).split(".")[-1] for b in node.bases]
                out[node.name] = (attrs.get("code"), attrs.get("status"), bases, f"{path.name}:{node.lineno}")
    return out


def _status_of_class(name: str, classes: dict) -> int | None:
    seen = 0
    while name in classes and seen < 10:
        _code, status, bases, _where = classes[name]
        if status is not None:
            return status
        name = bases[0] if bases else ""
        seen += 1
    return None


def raised_codes() -> list[tuple[str, int | None, str]]:
    """(code, status or None when not statically known, where) for every code in the apps."""
    classes = _error_classes()
    found = []
    for name, (code, _status, _bases, where) in classes.items():
        if isinstance(code, str):
            found.append((code, _status_of_class(name, classes), where))
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            code = kw.get("code")
            if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
                continue
            status = kw.get("status")
            if isinstance(status, ast.Constant):
                known = status.value
            else:
                func = ast.unparse(node.func).split(".")[-1]
                known = _status_of_class(func, classes) if "status" not in kw else None
            found.append((code.value, known, f"{path.name}:{node.lineno}"))
    return found


def test_every_raised_error_code_is_in_the_table_with_its_one_status():
    problems = []
    for code, status, where in raised_codes():
        if code not in CODES:
            problems.append(f"{where}: {code} is not in portal.errors.CODES")
        elif status is not None and status != CODES[code][0] and (code, status) not in STATUS_EXCEPTIONS:
            problems.append(f"{where}: {code} raised with {status}, the table says {CODES[code][0]}")
    assert problems == []


def test_the_table_has_one_status_and_a_meaning_per_code():
    for code, (status, meaning) in CODES.items():
        assert code.islower() and " " not in code, code
        assert 400 <= status <= 599 and meaning.endswith("."), code


def test_drifted_spellings_are_gone():
    codes = {code for code, _, _ in raised_codes()}
    assert not codes & {"not_a_member", "not_a_steward", "token_scope"}


def test_contracts_doc_lists_every_code_with_its_status():
    doc = (ROOT / "docs" / "contracts.md").read_text()
    missing = [code for code, (status, _) in CODES.items() if f"| `{code}` | {status} |" not in doc]
    assert missing == []
