"""The import graph of the pva and gateway packages has no cycles, apart from the ones listed below as known.

A cycle makes the order of imports matter (a module half-initialised when its partner imports it), hides
which module is the lower layer, and is the first sign of two features cut on the wrong seam. The graph is
read with ``ast`` from the source, not by importing it, so a lazy import inside a function counts as much as a
module-level one: it only moves the cycle to run time. Imports under ``if TYPE_CHECKING:`` do not run and are
left out.

An edge goes to the most specific module named: ``from pva.db import search`` is an edge to pva.db.search,
``from pva.db.search import search_media`` too; the parent package that Python also initialises is not counted,
or every package whose ``__init__`` re-exports its submodules would be a cycle with each of them.

Two levels are checked: modules, and the rooms of the layout (pva.jobs, pva.services, pva.db, gateway.routers:
the first two parts of a module's name). ``pva.jobs -> pva.services -> pva.jobs`` through different modules of
pva.services is no module cycle, but it still means neither room can be understood, tested or moved alone."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pva", "gateway")

# Cycles that exist today and are being broken up by the redesign; each entry is the set of modules of one
# strongly connected component. A new module joining one of them, or a new cycle, fails the test; so does an
# entry here that no longer is a cycle, so the list only shrinks.
KNOWN_CYCLES: list[frozenset[str]] = [
]
KNOWN_ROOM_CYCLES: list[frozenset[str]] = [
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node in the tree, at any depth, except those guarded by TYPE_CHECKING."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    modules = set(files)

    def resolve(name: str) -> str | None:
        # the longest prefix that is one of our modules: pva.db.search.search_media -> pva.db.search
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in files.items():
        for t in imported_names(path, mod):
            target = resolve(t)
            if target is not None and target != mod:
                graph[mod].add(target)
    return graph


def imported_names(path: Path, mod: str) -> list[str]:
    """The absolute dotted names a file imports; ``from pkg import sub`` gives pkg.sub (the submodule, when there
    is one: import_graph resolves it)."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
            continue
        if node.level:
            base = mod.split(".") if is_pkg else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        out += [f"{prefix}.{a.name}" for a in node.names]
    return out


# pva/jobs holds two layers (DESIGN, Layout): the job state that ingest and the services use (pva.jobs), and the
# analysis pipeline and tasks above the services (a task stores its results through one). They are rooms of their
# own here, or every task that calls a service would make a cycle with the job state that service reads.
SUBROOMS = ("pva.jobs.pipeline", "pva.jobs.tasks")


def room(module: str) -> str:
    for sub in SUBROOMS:
        if module == sub or module.startswith(sub + "."):
            return sub
    return ".".join(module.split(".")[:2])


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for mod, targets in graph.items():
        rooms.setdefault(room(mod), set()).update(room(t) for t in targets if room(t) != room(mod))
    return rooms


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm, iterative; only components of more than one module (self-imports are dropped)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(frozenset(comp))
    return out


def a_cycle(graph: dict[str, set[str]], comp: frozenset[str]) -> list[str]:
    """One concrete cycle through the component, for the failure message: a -> b -> ... -> a."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(comp)


def _describe(graph, comp) -> str:
    return " -> ".join(a_cycle(graph, comp)) + f"  (component: {', '.join(sorted(comp))})"


def test_import_graph_reads_function_level_and_relative_imports():
    # guards the walker itself: the worker imports the cron schedule inside a method, from a sibling module;
    # the runtime package re-exports spec with a relative import at module level
    graph = import_graph()
    assert "pva.runtime.cron" in graph["pva.runtime.worker"]
    assert "pva.runtime.spec" in graph["pva.runtime"]
    assert all(m.startswith(PACKAGES) for targets in graph.values() for m in targets)


def test_pva_and_gateway_have_no_new_import_cycles():
    graph = import_graph()
    new = [c for c in strongly_connected(graph) if c not in KNOWN_CYCLES]
    assert not new, "import cycles between modules:\n" + "\n".join(_describe(graph, c) for c in new)


def test_rooms_of_the_layout_have_no_new_import_cycles():
    rooms = room_graph(import_graph())
    new = [c for c in strongly_connected(rooms) if c not in KNOWN_ROOM_CYCLES]
    assert not new, "import cycles between packages:\n" + "\n".join(_describe(rooms, c) for c in new)


def test_known_import_cycles_are_still_cycles():
    # a fixed cycle must leave the known lists, or it could come back unnoticed
    graph = import_graph()
    modules, rooms = strongly_connected(graph), strongly_connected(room_graph(graph))
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in modules]
    gone += [sorted(c) for c in KNOWN_ROOM_CYCLES if c not in rooms]
    assert not gone, f"no longer cycles, remove them from KNOWN_CYCLES / KNOWN_ROOM_CYCLES: {gone}"


# pva.ml is the pure layer (issue 17): model wrappers get images or local files and give answers; fetching the
# input and storing the results is pva.jobs' work.  Nothing it reaches may talk to the database, object store or
# bus, so a model can be loaded and tested (or benchmarked) without the stack.
IO_MODULES = ("pva.db", "pva.infra", "pva.jobs", "pva.services",
              "pva.faces_service", "gateway")
IO_LIBRARIES = ("psycopg2", "pika", "minio", "boto3", "botocore", "httpx", "requests")


def _third_party(path: Path) -> set[str]:
    out = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_ml_imports_nothing_that_does_io():
    graph = import_graph()
    ml = {m for m in graph if m == "pva.ml" or m.startswith("pva.ml.")}
    assert {"pva.ml.base", "pva.ml.objects", "pva.ml.faces", "pva.ml.ocr", "pva.ml.transcribe"} <= ml
    reached, todo = set(ml), list(ml)
    while todo:  # everything pva.ml imports, directly or through other modules of ours
        for t in graph[todo.pop()] - reached:
            reached.add(t)
            todo.append(t)
    bad = sorted(m for m in reached if m.startswith(IO_MODULES))
    assert not bad, f"pva.ml reaches modules that do I/O: {bad}"
    libs = {m: _third_party(ROOT / Path(*m.split(".")).with_suffix(".py")) if m != "pva.ml"
            else _third_party(ROOT / "pva/ml/__init__.py") for m in ml}
    bad_libs = {m: sorted(set(v) & set(IO_LIBRARIES)) for m, v in libs.items() if set(v) & set(IO_LIBRARIES)}
    assert not bad_libs, f"pva.ml imports database, queue or object-store clients: {bad_libs}"


# The edges of the system (issue 17): a router or a function handler reads the request, calls one service and
# answers; the SQL (pva.db) and the clients of the real services (pva.infra: the db pool, storage, bus, certs) are
# the services' business.  Checked on the source like the cycles above, so a lazy import inside a route counts.
EDGE_FORBIDDEN = ("pva.db", "pva.infra")
_FORBIDDEN_PREFIXES = tuple(f + "." for f in EDGE_FORBIDDEN)

# Edges that import them today and are being moved onto services by the redesign.  A new offender fails the test;
# so does one listed here that no longer imports them, so the list only shrinks.
KNOWN_OFFENDERS: set[str] = set()


def _edges() -> dict[str, list[str]]:
    """Each router and function handler (path relative to the repository) -> what it imports of pva.db/pva.infra."""
    paths = sorted((ROOT / "gateway/routers").glob("*.py")) + sorted((ROOT / "functions").glob("*/handler.py"))
    out = {}
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        names = imported_names(path, _module_name(path) if rel.startswith("gateway/") else "handler")
        out[rel] = sorted({n for n in names if n in EDGE_FORBIDDEN or n.startswith(_FORBIDDEN_PREFIXES)})
    return out


def test_edge_reader_sees_every_import_form(tmp_path):
    # guards the reader: module level, lazy in a function, ``from pva import db`` and the dotted forms all count
    f = tmp_path / "handler.py"
    f.write_text("import pva.db.media\nfrom pva import db, jobs\nfrom pva.infra.storage import get_storage\n"
                 "def h():\n    from pva.infra import bus\n")
    names = imported_names(f, "handler")
    assert {"pva.db.media", "pva.db", "pva.jobs", "pva.infra.storage.get_storage", "pva.infra.bus"} <= set(names)
    assert len(_edges()) > len(KNOWN_OFFENDERS) and "functions/detect/handler.py" in _edges()


def test_routers_and_function_handlers_do_not_import_db_or_infra():
    edges = _edges()
    new = {p: n for p, n in edges.items() if n and p not in KNOWN_OFFENDERS}
    assert not new, f"routers and function handlers call a service, never pva.db or pva.infra: {new}"


def test_known_edge_offenders_still_offend():
    # a cleaned router must leave KNOWN_OFFENDERS, or it could start importing pva.db again unnoticed
    edges = _edges()
    clean = sorted(p for p in KNOWN_OFFENDERS if not edges.get(p))
    assert not clean, f"no longer import pva.db or pva.infra, remove them from KNOWN_OFFENDERS: {clean}"
