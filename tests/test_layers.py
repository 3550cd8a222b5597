"""The package's shape, computed from its source with `ast` (docs/architecture.md).

Three rules, each checked over every module of the installed packages:

- dependencies point one way: `server → bridge → store → protocol`, and
  `loadtest → adminclient → protocol` (the load tester is a client: it must
  run without the server's code; the blocking admin client it shares with
  `corpchat admin` needs only the protocol);
- no import circle among the modules of the project;
- no private name (`_x`) imported from another module or read off another
  object (wsproto's internals included), and no module in server/ but the
  composition root imports `App`.

`KNOWN` lists what the code still breaks while issue 17 moves it into
shape. The test fails on anything new, and on an entry that no longer
happens, so the list can only shrink.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "adminclient", "store", "bridge", "search", "cluster", "server",
            "loadtest")
# Which project packages each package may import.
ALLOWED = {
    "protocol": set(),
    "adminclient": {"protocol"},
    "store": {"protocol"},
    "bridge": {"store", "protocol"},
    "search": {"store", "protocol"},
    "cluster": {"store", "protocol"},  # NATS JetStream: leases, the log (docs/cluster.md)
    "server": {"bridge", "search", "cluster", "store", "protocol", "adminclient", "loadtest"},
    "loadtest": {"protocol", "adminclient"},
}
COMPOSITION_ROOTS = {"server.app", "server.cli", "server.__init__"}

KNOWN: set[str] = set()  # nothing left: every break of issue 17's list is gone


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute project module a (relative) import names, without `corpchat.`."""
    if level == 0:
        assert target is not None
        return target.removeprefix("corpchat.")
    parts = current.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for each project import in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    here = name.removesuffix(".__init__")
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("corpchat"):
                continue
            target = resolve(here, is_package, node.level, node.module)
            names = [alias.name for alias in node.names]
            for alias in names:  # `from . import x` imports module x
                if f"{target}.{alias}" in known or f"{target}.{alias}.__init__" in known:
                    found.append((f"{target}.{alias}", []))
            found.append((target, names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("corpchat."):
                    found.append((alias.name.removeprefix("corpchat."), []))
    return found


def private_reads(name: str, path: Path) -> list[str]:
    """`obj._x` where obj is not self, cls or super(): another object's internals."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") \
                or node.attr.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) \
                and owner.func.id == "super":
            continue
        found.append(f"private: {name} reads {ast.unparse(node)}")
    return found


def canonical(target: str, known: dict[str, Path]) -> str | None:
    if target in known:
        return target
    if f"{target}.__init__" in known:
        return f"{target}.__init__"
    return None


def graph() -> tuple[dict[str, set[str]], list[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    problems: list[str] = []
    for name, path in known.items():
        package = name.split(".")[0]
        problems += private_reads(name, path)
        for target, names in imports(name, path, known):
            module = canonical(target, known)
            if module is None:
                continue
            edges[name].add(module)
            other = module.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                problems.append(f"layer: {name} imports {module}")
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    problems.append(f"private: {name} imports {module}.{imported}")
                if imported == "App" and name.startswith("server.") \
                        and name not in COMPOSITION_ROOTS:
                    problems.append(f"app: {name} imports App")
    return edges, problems


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[str] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # a package's __init__ re-exporting its modules is not a circle of behaviour
            members = sorted(m for m in component if not m.endswith(".__init__"))
            if len(members) > 1:
                found.append("circle: " + " ".join(members))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def without_inits(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges through a package's `__init__` count as edges to the module it re-exports."""
    return {name: {t for t in targets if not t.endswith(".__init__")}
            for name, targets in edges.items()}


def test_layers_circles_and_private_imports() -> None:
    edges, problems = graph()
    problems += cycles(without_inits(edges))
    new = sorted(set(problems) - KNOWN)
    gone = sorted(KNOWN - set(problems))
    assert not new, "new breaks of the package's shape:\n" + "\n".join(new)
    assert not gone, "fixed, so remove from KNOWN:\n" + "\n".join(gone)


# Every module of the load tester and the admin client, imported in a fresh
# interpreter, loads nothing of the server, the store, the bridge or LMDB.
ALONE = """
import importlib, pkgutil, sys
import corpchat.adminclient, corpchat.loadtest
for found in pkgutil.walk_packages(corpchat.loadtest.__path__, "corpchat.loadtest."):
    importlib.import_module(found.name)
server_side = ("lmdb", "corpchat.server", "corpchat.store", "corpchat.bridge")
print(" ".join(sorted(m for m in sys.modules
                      if any(m == s or m.startswith(s + ".") for s in server_side))))
"""


def test_the_load_tester_and_the_admin_client_run_without_the_server() -> None:
    done = subprocess.run([sys.executable, "-c", ALONE], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == []


def test_the_checker_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["circle: a b c"]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve() -> None:
    assert resolve("server.hub", False, 1, "store") == "server.store"
    assert resolve("server.hub", False, 2, "store") == "store"
    assert resolve("server", True, 1, "hub") == "server.hub"
    assert resolve("x", False, 0, "corpchat.store.keys") == "store.keys"


MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600
KNOWN_OVERSIZED: set[str] = set()  # nothing left: issue 17 split the last ones


def oversized() -> set[str]:
    found = set()
    for name, path in modules().items():
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            found.add(f"module: {name}")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    found.add(f"function: {name}.{node.name}")
    return found


def test_functions_and_modules_stay_small() -> None:
    found = oversized()
    assert not found - KNOWN_OVERSIZED, sorted(found - KNOWN_OVERSIZED)
    assert not KNOWN_OVERSIZED - found, ("now small, so remove from KNOWN_OVERSIZED",
                                         sorted(KNOWN_OVERSIZED - found))


MAX_TYPE_IGNORES = 10
# `# type: ignore[code]  # why`: one error code, and a reason after it.
JUSTIFIED_IGNORE = re.compile(r"# type: ignore\[[a-z-]+\]  # \S")


def type_ignores() -> list[str]:
    """Every `type: ignore` comment in package code, as `module:line: text`."""
    found = []
    for name, path in modules().items():
        with path.open("rb") as source:
            for token in tokenize.tokenize(source.readline):
                if token.type == tokenize.COMMENT and "type: ignore" in token.string:
                    found.append(f"{name}:{token.start[0]}: {token.string}")
    return found


def test_type_ignores_are_few_and_each_says_why() -> None:
    found = type_ignores()
    assert len(found) <= MAX_TYPE_IGNORES, (len(found), found)
    assert all(JUSTIFIED_IGNORE.search(line) for line in found), \
        [line for line in found if not JUSTIFIED_IGNORE.search(line)]
