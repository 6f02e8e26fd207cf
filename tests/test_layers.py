"""Imports run one way: no cycle between modules or packages of driftalign, and packages respect LAYERS.

Read from the source with `ast` (nothing is imported): every `import` and `from ... import` anywhere in a
module, inside functions too (a lazy import is still a dependency), and every string that names a
driftalign module (`importlib.import_module`'s argument: the CLI's command table, the pipeline's stage
runners, the lazy `__init__` exports). Only `if TYPE_CHECKING:` blocks are left out. `from pkg import name`
depends on the module pkg.name when there is one, else on pkg (its `__init__`); the parent packages
Python imports on the way are not counted.

A unit of the layer check is a first-level subpackage (`driftalign.training`) or a top-level module
(`driftalign.errors`; the package's own `__init__` is "driftalign"). Docs: ARCHITECTURE.md, "Layers".
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "driftalign"

# Lowest first. A unit may import its own modules and the units of lower layers; the units of one layer are
# independent of each other (neither imports the other).
LAYERS: list[set[str]] = [
    {"driftalign", "errors", "constants", "console", "hashing"},   # shared, import no other part of driftalign
    {"data"},                                                       # dataset contract, atomic I/O, file integrity
    {"config"},                                                     # StageConfig (saves through data.io)
    {"labeling", "synth", "losses"},
    {"models", "teachers"},
    {"classifier", "drift"},
    {"metrics", "generation"},
    {"consensus", "rl", "probe"},
    {"training"},
    {"report"},
    {"pipeline"},
    {"cli"},
    {"__main__"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported driftalign module, line) of every import in `module` (module docstring)."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []

    def target(name: str) -> str:
        while name not in MODULES and "." in name:     # `import driftalign.x.attr` / an unknown tail
            name = name.rsplit(".", 1)[0]
        return name

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.orelse:
                    visit_one(stmt)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((target(a.name), node.lineno) for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] == PACKAGE:
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    found.append((full if full in MODULES else target(source), node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
            found.append((node.value, node.lineno))
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


EDGES: dict[str, list[tuple[str, int]]] = {m: sorted({(t, line) for t, line in _imports(m, p) if t != m})
                                           for m, p in MODULES.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(SRC)}:{line}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _cycle_report(graph: dict[str, set[str]], why: dict[tuple[str, str], list[str]]) -> list[str]:
    lines = []
    for component in _cycles(graph):
        members = set(component)
        lines.append("cycle: " + ", ".join(component))
        lines += [f"    {a} -> {b}: {', '.join(why[(a, b)])}" for a in component for b in sorted(graph[a] & members)]
    return lines


def test_the_walker_sees_imports():
    """Not vacuous: the graph holds the imports one can read in the files (module-level, lazy, dynamic)."""
    assert len(MODULES) > 100
    assert any(t == "driftalign.data.io" for t, _ in EDGES["driftalign.config"])                    # module level
    assert any(t == "driftalign.generation.transformers_backend" for t, _ in EDGES["driftalign.generation"])  # lazy
    assert any(t == "driftalign.cli.pipeline_commands" for t, _ in EDGES["driftalign.cli.app"])    # a string


def test_no_import_cycle_between_modules():
    graph = {m: {t for t, _ in edges} for m, edges in EDGES.items()}
    why: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m, edges in EDGES.items():
        for t, line in edges:
            why[(m, t)].append(_where(m, line))
    problems = _cycle_report(graph, why)
    assert not problems, "\n".join(problems)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m, edges in EDGES.items():
        for t, line in edges:
            a, b = _unit(m), _unit(t)
            if a != b:
                graph[a].add(b)
                why[(a, b)].append(f"{_where(m, line)} imports {t}")
    problems = _cycle_report(graph, why)
    assert not problems, "\n".join(problems)


def test_every_package_has_a_layer():
    placed = [u for layer in LAYERS for u in layer]
    assert len(placed) == len(set(placed)), "a unit is in two layers"
    assert sorted({_unit(m) for m in MODULES} - set(placed)) == [], "place the new package in LAYERS"
    assert sorted(set(placed) - {_unit(m) for m in MODULES}) == [], "LAYERS names a unit that is gone"


@pytest.mark.parametrize("layer", range(len(LAYERS)), ids=lambda i: "+".join(sorted(LAYERS[i])))
def test_packages_import_only_lower_layers(layer):
    level = {u: i for i, units in enumerate(LAYERS) for u in units}
    wrong = []
    for m, edges in EDGES.items():
        a = _unit(m)
        if level.get(a) != layer:
            continue
        for t, line in edges:
            b = _unit(t)
            if b != a and b in level and level[b] >= layer:
                kind = "same layer" if level[b] == layer else "higher layer"
                wrong.append(f"{_where(m, line)} imports {t} ({b}: {kind})")
    assert not wrong, "\n".join(wrong)
