"""The package layout's rules, read from the source with `ast` (docs/architecture.md, "Rules").

Imports inside functions count: a loop closed by a late import is still a loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "modeldev"
MAX_MODULE_LINES = 320
ENGINE_FORBIDDEN = ("modeldev.cli", "modeldev.ui")
STREAMLIT_HOMES = ("modeldev.ui",)
MLFLOW_HOME = "modeldev.tracking"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imported(tree: ast.AST, here: str) -> Iterator[tuple[str, int]]:
    """Every module name an import statement names, with its line (relative ones resolved)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: -node.level] if here in MODULES else []
                base = ".".join([*anchor, base]).strip(".")
            yield base, node.lineno
            for alias in node.names:  # `from modeldev.jobs import store` names a module
                yield f"{base}.{alias.name}", node.lineno


def _internal_edges(name: str, path: Path) -> set[str]:
    """The modeldev modules `name` imports (a name that is no module counts as its module)."""
    edges = set()
    for target, _ in _imported(ast.parse(path.read_text()), name):
        if target in MODULES and target != name:
            edges.add(target)
    return edges


def _graph() -> dict[str, set[str]]:
    return {name: _internal_edges(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_loop_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops_among_modeldev_modules():
    loops = _cycles(_graph())
    assert not loops, "import loops: " + "; ".join(" <-> ".join(loop) for loop in loops)


def _all_sources() -> Iterator[tuple[str, Path]]:
    yield from MODULES.items()
    yield "app", ROOT / "app.py"
    for page in sorted((ROOT / "pages").glob("*.py")):
        yield f"pages.{page.stem}", page


def _violations(allowed: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    out = []
    for name, path in _all_sources():
        if name.startswith(allowed):
            continue
        for target, line in _imported(ast.parse(path.read_text()), name):
            if target.split(".")[0] in banned or target.startswith(tuple(b + "." for b in banned)):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return out


def test_mlflow_is_imported_only_under_tracking():
    problems = _violations((MLFLOW_HOME,), ("mlflow", "sqlalchemy"))
    assert not problems, "\n".join(problems)


def test_streamlit_is_imported_only_by_the_app():
    problems = _violations((*STREAMLIT_HOMES, "app", "pages"), ("streamlit",))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("layer", ENGINE_FORBIDDEN)
def test_the_engine_never_imports_the_front_ends(layer):
    problems = []
    for name, edges in _graph().items():
        if name.startswith(ENGINE_FORBIDDEN):
            continue
        problems += [f"{name} imports {t}" for t in edges if t == layer or t.startswith(layer)]
    assert not problems, "\n".join(problems)


def test_the_two_front_ends_do_not_import_each_other():
    graph = _graph()
    problems = [f"{n} imports {t}" for n, edges in graph.items() for t in edges
                if (n.startswith("modeldev.cli") and t.startswith("modeldev.ui"))
                or (n.startswith("modeldev.ui") and t.startswith("modeldev.cli"))]
    assert not problems, "\n".join(problems)


def test_phase2_never_imports_the_phase1_orchestrator():
    graph = _graph()
    problems = [f"{n} imports {t}" for n, edges in graph.items() if n.startswith("modeldev.tuning")
                for t in edges if t == "modeldev.phase1.run"]
    assert not problems, "\n".join(problems)


def test_no_module_outside_tracking_reaches_for_an_mlflow_client():
    problems = []
    for name, path in _all_sources():
        if name.startswith(MLFLOW_HOME):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("client", "_client"):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not problems, "\n".join(problems)


def test_modules_stay_small():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _public_definitions(tree: ast.Module) -> Iterator[ast.AST]:
    """Module-level functions and classes, and the methods of public classes."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and \
                not node.name.startswith("_"):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from (m for m in node.body if isinstance(m, ast.FunctionDef)
                            and not m.name.startswith("_"))


def test_public_functions_and_classes_are_documented_and_typed():
    problems = []
    for name, path in MODULES.items():
        for node in _public_definitions(ast.parse(path.read_text())):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            where = f"{name}.{node.name} (line {node.lineno})"
            if ast.get_docstring(node) is None:
                problems.append(f"{where}: no docstring")
            if isinstance(node, ast.ClassDef):
                continue
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            untyped = [a.arg for a in args if a.annotation is None and a.arg not in ("self", "cls")]
            if untyped or node.returns is None:
                problems.append(f"{where}: untyped {untyped or 'return'}")
    assert not problems, "\n".join(problems)
