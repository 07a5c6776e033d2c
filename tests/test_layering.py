"""The package's import graph, computed from the code: no cycles, no import from a later stage.

Every run-time import counts, function-level ones too (they are how cycles hide). Imports under
`if TYPE_CHECKING:` do not: they are erased at run time (annotations only) and cannot form a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"

# The pipeline, first stage first. A module may import its own stage and earlier ones only.
STAGES: list[set[str]] = [
    {"version", "errors", "models", "config", "project", "text", "markup", "signing", "listing"},  # the shared kernel
    {"web"},
    {"sources"},
    {"store"},
    {"semantic"},
    {"ingest"},
    {"feeds"},
    {"media"},
    {"issues"},
    {"links"},
    {"site"},
    {"mail"},
    {"export"},
    {"platforms"},
    {"server"},
    {"catalog"},
    {"capture"},
    {"cli", "__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def runtime_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package modules `name` imports at run time (a submodule named in `from X import sub` is the edge)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif source in modules:
                    found.add(source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    names = set(modules)
    return {name: runtime_imports(path, name, names) for name, path in modules.items()}


def stage_of(module: str) -> int | None:
    """The stage index of a module (None for the package root, the lazy public API)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    for index, stage in enumerate(STAGES):
        if parts[1] in stage:
            return index
    raise AssertionError(f"{module} belongs to no stage: add its folder to STAGES in {Path(__file__).name}")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_belongs_to_a_stage() -> None:
    for module in all_modules():
        stage_of(module)


def test_the_import_graph_has_no_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_stage_imports_a_later_one() -> None:
    upward = []
    for module, imported in sorted(import_graph().items()):
        mine = stage_of(module)
        for target in sorted(imported):
            theirs = stage_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The rules above can fail: a made-up graph with both defects is caught."""
    graph = {"newsletter.web.a": {"newsletter.web.b"}, "newsletter.web.b": {"newsletter.web.a"}}
    assert cycles(graph) == [["newsletter.web.a", "newsletter.web.b"]]
    assert stage_of("newsletter.web.fetch") < stage_of("newsletter.catalog")  # type: ignore[operator]


def test_the_package_root_imports_nothing_heavy_at_run_time() -> None:
    """`import newsletter` (the public API) is lazy: it must not pull a stage in to define its names."""
    root = import_graph()["newsletter"]
    assert root <= {"newsletter.version"}
