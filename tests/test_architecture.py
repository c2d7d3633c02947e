"""The module structure stays as docs/architecture.md draws it: no import cycles between
venalab's modules, no private names imported across modules, one-way layers."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "venalab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _resolve(name: str) -> str | None:
    """The venalab module an imported dotted name refers to (a module, or its package)."""
    modules = _modules()
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) of every import in the module, functions included;
    imports under `if TYPE_CHECKING:` are left out (they never run)."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            # `from package import submodule` imports the submodule
            subs = [n for n in names if f"{target}.{n}" in _modules()]
            out += [(f"{target}.{n}", []) for n in subs]
            out.append((target, [n for n in names if n not in subs]))
    return out


@cache
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in _modules():
        edges = {_resolve(target) for target, _ in _imports(module)}
        graph[module] = {e for e in edges if e is not None and e != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_sees_the_modules() -> None:
    graph = _graph()
    assert "venalab.engine" in graph and "venalab.rules.pathways.dvt" in graph
    assert "venalab.rules.reflux" in graph["venalab.engine"]
    assert "venalab.vcss_scale" in graph["venalab.exam"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = [
        f"{module} imports {name} from {target}"
        for module in _modules()
        for target, names in _imports(module)
        if _resolve(target) not in (None, module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        # the core never reaches out to an edge
        ("venalab.engine", "venalab.web"),
        ("venalab.engine", "venalab.interop"),
        ("venalab.engine", "venalab.report"),
        ("venalab.engine", "venalab.store"),
        ("venalab.engine", "venalab.cli"),
        ("venalab.rules", "venalab.engine"),
        ("venalab.rules", "venalab.result"),
        ("venalab.exam", "venalab.rules"),
        # views print, they do not store or serve
        ("venalab.report", "venalab.web"),
        ("venalab.report", "venalab.store"),
        # the format codecs of interop/ (its listeners and services are edges)
        *(
            (f"venalab.interop.{codec}", edge)
            for codec in ("fhir_export", "fhir_import", "sr_export", "sr_import", "findings")
            for edge in ("venalab.web", "venalab.store")
        ),
        ("venalab.knowledge", "venalab.web"),
        ("venalab.store", "venalab.engine"),
        # base modules sit below the exam model, reference data below the rules
        ("venalab.evidence", "venalab.exam"),
        ("venalab.vcss_scale", "venalab.exam"),
        ("venalab.diagnosis_codes", "venalab.exam"),
        ("venalab.exam", "venalab.anatomy"),
        ("venalab.anatomy", "venalab.rules"),
        ("venalab.criteria", "venalab.rules"),
    ],
)
def test_layers_run_one_way(lower: str, upper: str) -> None:
    """No module of `lower` imports, directly or through others, a module of `upper`."""
    graph = _graph()
    starts = [m for m in graph if m == lower or m.startswith(lower + ".")]
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        m = todo.pop()
        for n in graph.get(m, ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    reached = sorted(m for m in seen if m == upper or m.startswith(upper + "."))
    assert reached == [], f"{lower} reaches {reached}"


def test_readme_architecture_names_every_module() -> None:
    """README "Architecture" lists every module and package of src/venalab and every rule."""
    readme = (SRC.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    top = [
        p.stem if p.is_file() else f"{p.name}/"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    ]
    missing = [name for name in top if f"`{name}" not in section]
    rules = [
        p.stem if p.is_file() else p.name
        for p in (PACKAGE / "rules").iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    ]
    missing += [f"rules/{r}" for r in rules if f"`{r}" not in section]
    assert missing == []
