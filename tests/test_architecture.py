"""The shape of the code cannot drift back: imports point one way and modules form no cycles.

Every ``.py`` module of our apps (migrations excepted) is parsed with ``ast``; every import counts,
including function-local and ``TYPE_CHECKING`` ones. Two rules:

* **Layers**: ``portal <- ledger <- idaos <- quorums <- contributions <- dats <- rewards``; an app
  never imports one to its right. ``validator/`` imports no Django and no app of ours at all.
* **No cycles** between modules (strongly connected components of the module graph). The one cycle
  allowed is a service module (``<app>.services`` or ``<app>.services.<x>``) and its own app's
  ``<app>.tasks``, where the service imports the task inside a function.

The real tree is read from the repository root, or from ``ARCHITECTURE_ROOT`` when set (to check
another checkout). Run as a script to print the violations of any checkout:
``.venv/bin/python tests/test_architecture.py /path/to/checkout``.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

LAYERS = ("portal", "ledger", "idaos", "quorums", "contributions", "dats", "rewards", "notifications")
STANDALONE = ("validator",)
APPS = LAYERS + STANDALONE
FORBIDDEN_IN_STANDALONE = ("django", "ninja", "celery", "django_htmx")


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. "dats.minting"
    target: str  # imported name resolved to the deepest module of ours, or the raw dotted name
    lineno: int
    local: bool  # the import statement sits inside a function body
    path: str

    def __str__(self) -> str:
        where = "function-local " if self.local else ""
        return f"{self.source} -> {self.target} ({where}import at {self.path}:{self.lineno})"


def discover_modules(root: Path, apps: Iterable[str] = APPS) -> dict[str, Path]:
    """Module name -> file for every .py file of the apps that exist under root (no migrations)."""
    modules: dict[str, Path] = {}
    for app in apps:
        base = root / app
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(root)
            if "migrations" in rel.parts or any(part.startswith(".") for part in rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.depth = 0
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self.depth > 0))


def _resolve(name: str, modules: Mapping[str, Path]) -> str:
    """The deepest module of ours that `name` names (a.b.attr -> a.b), or name itself if external."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return name


def module_imports(module: str, path: Path, modules: Mapping[str, Path], root: Path) -> list[Edge]:
    """Every import of one module as edges, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    visitor = _ImportVisitor()
    visitor.visit(tree)
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    rel_path = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    edges: list[Edge] = []
    for node, local in visitor.found:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".") if package else []
                if node.level - 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                full = f"{base}.{node.module}" if node.module else base
            else:
                full = node.module or ""
            for alias in node.names:
                submodule = f"{full}.{alias.name}"
                # `from pkg import name` where name is a submodule imports that submodule.
                targets.append(submodule if submodule in modules else full)
        for target in targets:
            edges.append(Edge(module, _resolve(target, modules), node.lineno, local, rel_path))
    return edges


def build_graph(root: Path, apps: Iterable[str] = APPS) -> dict[str, list[Edge]]:
    """Module -> its import edges (external imports included; cycles use only internal ones)."""
    root = Path(root)
    modules = discover_modules(root, apps)
    return {name: module_imports(name, path, modules, root) for name, path in modules.items()}


def _app_of(module: str) -> str:
    return module.split(".")[0]


def layer_violations(graph: Mapping[str, list[Edge]]) -> list[str]:
    """Imports from an app to one downstream of it, and any Django/app import from validator/."""
    problems: list[str] = []
    for edges in graph.values():
        for edge in edges:
            src, dst = _app_of(edge.source), _app_of(edge.target)
            if src in STANDALONE:
                if dst in APPS and dst != src:
                    problems.append(f"{src}/ imports our app {dst}: {edge}")
                elif dst in FORBIDDEN_IN_STANDALONE or dst.startswith("django"):
                    problems.append(f"{src}/ imports {dst} (it must import no Django): {edge}")
            elif src in LAYERS and dst in LAYERS and LAYERS.index(dst) > LAYERS.index(src):
                problems.append(f"upstream {src} imports downstream {dst}: {edge}")
    return sorted(problems)


def _is_allowed_cycle_edge(edge: Edge) -> bool:
    """A service module's function-local import of its own app's tasks module."""
    parts = edge.source.split(".")
    is_service = len(parts) in (2, 3) and parts[1] == "services"
    return is_service and edge.local and edge.target == f"{parts[0]}.tasks"


def strongly_connected_components(nodes: Iterable[str], succ: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep graphs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(succ.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(succ.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycle_violations(graph: Mapping[str, list[Edge]]) -> list[str]:
    """Every import cycle between our modules, minus the allowed service <-> own tasks one."""
    succ: dict[str, set[str]] = {name: set() for name in graph}
    for name, edges in graph.items():
        for edge in edges:
            if edge.target in graph and edge.target != name and not _is_allowed_cycle_edge(edge):
                succ[name].add(edge.target)
    problems: list[str] = []
    for component in strongly_connected_components(graph, succ):
        if len(component) < 2:
            continue
        members = set(component)
        inner = sorted(
            {
                str(edge)
                for name in component
                for edge in graph[name]
                if edge.target in members and edge.target != name and not _is_allowed_cycle_edge(edge)
            }
        )
        problems.append(f"import cycle between {', '.join(component)}:\n      " + "\n      ".join(inner))
    return problems


def checked_root() -> Path:
    return Path(os.environ.get("ARCHITECTURE_ROOT") or Path(__file__).resolve().parent.parent)


# --- the real tree ---------------------------------------------------------------------------


def test_the_app_tree_is_found():
    graph = build_graph(checked_root())
    apps = {_app_of(name) for name in graph}
    assert {"portal", "ledger"} <= apps, f"no app modules found under {checked_root()}"


def test_no_app_imports_an_app_downstream_of_it_and_validator_imports_no_django():
    problems = layer_violations(build_graph(checked_root()))
    assert not problems, "imports against the app graph " + " <- ".join(LAYERS) + ":\n  " + "\n  ".join(problems)


def test_no_import_cycle_between_modules_except_a_service_and_its_own_tasks():
    problems = cycle_violations(build_graph(checked_root()))
    assert not problems, "import cycles:\n  " + "\n  ".join(problems)


# --- the checker itself, on synthetic trees ----------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_fails_on_a_back_import_from_an_upstream_app(tmp_path):
    root = _tree(
        tmp_path,
        {
            "ledger/__init__.py": "",
            "ledger/services.py": "def post():\n    from idaos.models import Idao\n",
            "idaos/__init__.py": "",
            "idaos/models.py": "from ledger import services\n",
        },
    )
    problems = layer_violations(build_graph(root))
    assert len(problems) == 1
    assert "upstream ledger imports downstream idaos" in problems[0]
    assert "ledger.services -> idaos.models" in problems[0]


def test_checker_sees_type_checking_and_relative_imports(tmp_path):
    root = _tree(
        tmp_path,
        {
            "quorums/__init__.py": "",
            "quorums/rounds.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rewards.models import Epoch\n",
            "quorums/sub/__init__.py": "",
            "quorums/sub/deep.py": "from ..rounds import x\nfrom .. import rounds\n",
            "rewards/__init__.py": "",
            "rewards/models.py": "",
        },
    )
    graph = build_graph(root)
    assert [e.target for e in graph["quorums.sub.deep"]] == ["quorums.rounds", "quorums.rounds"]
    problems = layer_violations(graph)
    assert len(problems) == 1 and "quorums.rounds -> rewards.models" in problems[0]


def test_checker_fails_when_validator_imports_django_or_an_app(tmp_path):
    root = _tree(
        tmp_path,
        {
            "validator/__init__.py": "",
            "validator/node.py": "import django.conf\nimport json\n\ndef f():\n    from portal.models import User\n",
            "portal/__init__.py": "",
            "portal/models.py": "",
        },
    )
    problems = layer_violations(build_graph(root))
    assert len(problems) == 2
    assert any("validator/ imports django" in p for p in problems)
    assert any("validator/ imports our app portal" in p for p in problems)


def test_checker_fails_on_a_cycle_even_through_function_local_imports(tmp_path):
    root = _tree(
        tmp_path,
        {
            "dats/__init__.py": "",
            "dats/grants.py": "from dats import minting\n",
            "dats/minting.py": "from .tokens import owner\n",
            "dats/tokens.py": "def owner():\n    from dats.minting import mint\n",
        },
    )
    problems = cycle_violations(build_graph(root))
    assert len(problems) == 1
    assert "dats.minting, dats.tokens" in problems[0]
    assert "dats.tokens -> dats.minting (function-local import" in problems[0]
    assert "dats.grants" not in problems[0].splitlines()[0]


def test_checker_accepts_a_service_importing_its_own_tasks_inside_a_function(tmp_path):
    root = _tree(
        tmp_path,
        {
            "contributions/__init__.py": "",
            "contributions/services.py": "def route():\n    from contributions.tasks import validate\n",
            "contributions/tasks.py": "from contributions.services import route\n",
            "quorums/__init__.py": "",
            "quorums/services/__init__.py": "",
            "quorums/services/rounds.py": "def open_():\n    from ..tasks import close\n",
            "quorums/tasks.py": "from quorums.services import rounds\n",
        },
    )
    graph = build_graph(root)
    assert cycle_violations(graph) == []
    assert layer_violations(graph) == []


def test_checker_refuses_the_service_tasks_cycle_when_the_import_is_at_module_level_or_crosses_apps(tmp_path):
    root = _tree(
        tmp_path,
        {
            "contributions/__init__.py": "",
            "contributions/services.py": "from contributions.tasks import validate\n",
            "contributions/tasks.py": "from contributions.services import route\n",
            "dats/__init__.py": "",
            "dats/services.py": "def mint():\n    from dats.selectors import x\n",
            "dats/selectors.py": "from dats.services import mint\n",
        },
    )
    problems = cycle_violations(build_graph(root))
    assert len(problems) == 2
    assert any("contributions.services, contributions.tasks" in p for p in problems)
    assert any("dats.selectors, dats.services" in p for p in problems)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else checked_root())
    tree = build_graph(target)
    found = layer_violations(tree) + cycle_violations(tree)
    print(f"{len(tree)} modules under {target}; {len(found)} violations")
    for problem in found:
        print("-", problem)
    sys.exit(1 if found else 0)
