"""The shape of the code: no import cycle in src/, config imports neither data nor models, and no
module outside pipeline/regimes names a regime (a plug-in regime must work wherever a built-in does)."""
import ast
from pathlib import Path

from prunebench.registry import REGIMES

SRC = Path(__file__).resolve().parent.parent / "src"


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def _run_time_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (imports that only type checkers see)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def import_graph() -> dict[str, set[str]]:
    """Module -> modules it imports at run time, counting every import statement (function-level
    ones too). ``from pkg import sub`` is an edge to the submodule; ``from pkg import name`` to the
    package."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (path, is_pkg) in mods.items():
        for node in _run_time_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:
                        graph[mod].add(sub)
                    elif target in mods:
                        graph[mod].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_src():
    assert cycles(import_graph()) == []


def test_config_imports_neither_data_nor_models():
    deps = import_graph()["prunebench.config"]
    assert not {d for d in deps if d.startswith(("prunebench.data", "prunebench.models"))}


def _regime_name_uses(path: Path, names: set[str]) -> list[str]:
    """String constants equal to a regime name, except as a mapping key or subscript: ``retrain`` is
    also the study format's key for a retraining recipe."""
    tree = ast.parse(path.read_text())
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault"):
            keys.update(id(a) for a in node.args[:1])
        elif isinstance(node, ast.Tuple):  # a tuple of mapping keys, e.g. ("name", "retrain")
            if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts) and len(node.elts) > 1:
                keys.update(id(e) for e in node.elts)
    prefixes = set()  # x.startswith("scratch") names a family of regimes
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith":
            prefixes.update(id(a) for a in node.args)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in keys:
            text = node.value
            if text in names or (id(node) in prefixes and any(n.startswith(text) for n in names)):
                hits.append(f"{path.relative_to(SRC)}:{node.lineno}: {text!r}")
    return hits


def test_no_module_outside_the_regimes_names_a_regime():
    names = set(REGIMES.names())
    assert {"retrain", "pxfy", "scratch-e"} <= names
    regimes_dir = SRC / "prunebench" / "pipeline" / "regimes"
    hits = []
    # schedule_iter.py names its schedule kinds; the regime "slr" shares its kind's name (it resolves to one)
    kinds = SRC / "prunebench" / "schedule_iter.py"
    for path in SRC.rglob("*.py"):
        if regimes_dir not in path.parents and path != kinds:
            hits += _regime_name_uses(path, names)
    assert hits == []
