"""The import graph of src/memscope, read with ast (module-level and function-level imports), has no cycle."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "memscope"


def module_names(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file of every module; a package's __init__.py is the package itself."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (annotations only, never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The memscope modules `name` imports anywhere in its file (top level, functions, classes)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            # `from pkg import sub` imports the submodule pkg.sub; `from pkg import obj` imports pkg
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import memscope.x.y` of an object: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = module_names(src, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds a cycle."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(set(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component."""
    return [_cycle_in(scc, graph) for scc in components(graph)]


def _cycle_in(scc: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first back to it)."""
    start = min(scc)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & scc):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component without a cycle")


def test_the_graph_reader_on_a_made_up_package(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub.c import g\n")
    (pkg / "sub" / "__init__.py").write_text("from .. import a  # noqa\n")
    (pkg / "sub" / "c.py").write_text("import pkg.a\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from pkg import b\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"}, "pkg.sub": {"pkg.a"},
                     "pkg.sub.c": {"pkg.a"}}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    assert find_cycles({"x": {"y"}, "y": set()}) == []


def test_memscope_has_no_import_cycle():
    graph = import_graph()
    found = [(" -> ".join(_cycle_in(scc, graph)), ", ".join(sorted(scc))) for scc in components(graph)]
    assert not found, "import cycles:\n" + "\n".join(f"{c}  (modules caught in it: {m})" for c, m in found)


def test_study_packages_are_layered():
    """recipe -> report -> tables, recipe -> tables; only the package's __init__ imports the recipe."""
    graph = import_graph()
    names = [m for m in graph if m.startswith("memscope.studies.") and m.count(".") == 2]
    assert {"memscope.studies.tbtt", "memscope.studies.capacity"} <= set(names)
    for pkg in names:
        recipe = f"{pkg}.recipe"
        assert recipe in graph, pkg
        importers = {m for m, deps in graph.items() if recipe in deps}
        assert importers <= {pkg}, f"{recipe} imported by {sorted(importers - {pkg})}"
        if f"{pkg}.tables" in graph:
            assert f"{pkg}.report" not in graph[f"{pkg}.tables"]


def test_the_house_has_no_arrow_back_up():
    """measure/ never imports models/ (measures take tensors and callables), train/ never imports tasks/
    (monitors that know tasks live in memscope.monitors, found through the callback seam), and no source
    file is over 600 lines."""
    graph = import_graph()
    for low, high in (("memscope.measure", "memscope.models"), ("memscope.train", "memscope.tasks"),
                      ("memscope.train", "memscope.monitors"), ("memscope.train", "memscope.studies"),
                      ("memscope.measure", "memscope.studies")):
        arrows = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.startswith(low)
                        for d in deps if d == high or d.startswith(high + "."))
        assert not arrows, arrows
    long = {str(p.relative_to(SRC)): n for p in (SRC / PACKAGE).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long
