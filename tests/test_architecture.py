"""The layout's rules, checked on the source with `ast` (no training).

- No import cycle between keras_lr modules, and imports follow the layers of
  CONTRIBUTING.md (schedules at the bottom, the command line on top).
- No module over 400 lines, no class over 150.
- Private Keras, TensorFlow, JAX and torch internals only in `keras_lr/_compat/`.
- `keras_lr.__all__` offers every public name of the subpackages.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import warnings
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_lr"
COMPAT = "keras_lr._compat"

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 150


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "__pycache__" not in path.parts
}
PACKAGES = {name for name, path in SOURCES.items() if path.name == "__init__.py"}
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in SOURCES.items()}


def where(module: str, node: ast.AST) -> str:
    return f"{SOURCES[module].relative_to(ROOT)}:{node.lineno}"


def in_compat(module: str) -> bool:
    return module == COMPAT or module.startswith(COMPAT + ".")


# -- (a) the import graph -------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    module_level: bool  # False: inside a function, run only when it is called


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """(node, module_level) of every import statement that runs.

    Imports under `if TYPE_CHECKING:` never run; imports in a class body run
    with the module; imports in a function (or lambda) run when it is called.
    """

    def visit(node, module_level):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, module_level
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), module_level)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, False)
            else:
                yield from visit(child, module_level)

    yield from visit(tree, True)


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _resolve_relative(importer: str, level: int, name: str | None) -> str:
    # The package a relative import counts from: the module's own for an
    # `__init__`, its parent for any other module.
    base = importer.split(".")
    if importer not in PACKAGES:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def _chain(importer: str, dotted: str) -> list[str]:
    """The keras_lr modules that `import dotted` runs, from `importer`.

    Importing `a.b.c` runs `a`, then `a.b`, then `a.b.c`.  A package above
    the importer is already in `sys.modules` (being run, or done) before the
    importer's first line, so it is no new dependency.
    """
    parts = dotted.split(".")
    chain = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    above = _ancestors(importer)
    return [m for m in chain if m in SOURCES and m not in above and m != importer]


def import_edges(importer: str) -> list[Edge]:
    """Every dependency of `importer` on another keras_lr module.

    - `import keras_lr.a.b` depends on `keras_lr.a.b` (and on `keras_lr.a`
      unless that package holds the importer).
    - `from keras_lr.a import b` with `b` a module depends on `keras_lr.a.b`,
      and on `keras_lr.a` unless that package holds the importer.
    - `from keras_lr.a import name` (not a module) reads an attribute of
      `keras_lr.a`: it depends on that package's `__init__`, even when the
      importer is one of its children, since the name must be set by then.
      So a child importing back into its package's `__init__` is a cycle,
      and a package's `__init__` re-exporting its children is not.
    - `import keras_lr` (the importer's own top package) depends on it.
    """
    edges = []
    for node, module_level in _imports(TREES[importer]):
        targets = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "keras_lr" or alias.name.startswith("keras_lr."):
                    targets += _chain(importer, alias.name)
                    if alias.name in _ancestors(importer):
                        targets.append(alias.name)
        else:
            if node.level:
                base = _resolve_relative(importer, node.level, node.module)
            else:
                base = node.module or ""
            if base != "keras_lr" and not base.startswith("keras_lr."):
                continue
            targets += _chain(importer, base)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                if child in SOURCES:
                    targets.append(child)
                elif base in SOURCES and base != importer:
                    targets.append(base)  # an attribute of `base`
        for target in dict.fromkeys(targets):
            if target != importer:
                edges.append(Edge(importer, target, node.lineno, module_level))
    return edges


EDGES = [edge for module in SOURCES for edge in import_edges(module)]


def strongly_connected(nodes, edges) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    graph = {node: sorted({e.target for e in edges if e.source == node}) for node in nodes}
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def cycle_path(component: list[str], edges: list[Edge]) -> str:
    """One cycle through the component, each step with its file and line."""
    members = set(component)
    out = {}
    for e in edges:
        if e.source in members and e.target in members:
            out.setdefault(e.source, []).append(e)
    start = component[0]
    # Breadth-first from start back to start: the shortest cycle through it.
    paths = {start: []}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for e in sorted(out.get(node, []), key=lambda e: e.target):
            if e.target == start:
                steps = paths[node] + [e]
                return " -> ".join(
                    [start]
                    + [
                        f"{s.target} ({SOURCES[s.source].relative_to(ROOT)}:{s.line}"
                        f"{'' if s.module_level else ', in a function'})"
                        for s in steps
                    ]
                )
            if e.target not in paths:
                paths[e.target] = paths[node] + [e]
                queue.append(e.target)
    return " <-> ".join(component)


def test_the_import_graph_sees_the_package():
    # The checks below are only as good as the graph: it must see the
    # imports the package is made of.
    assert "keras_lr.schedules" in SOURCES and COMPAT in PACKAGES
    targets = {(e.source, e.target) for e in EDGES}
    assert ("keras_lr", "keras_lr.schedules") in targets
    assert ("keras_lr._rate", COMPAT) in targets


def test_no_import_cycle_at_module_level():
    module_level = [e for e in EDGES if e.module_level]
    cycles = strongly_connected(SOURCES, module_level)
    deferred = [
        c for c in strongly_connected(SOURCES, EDGES) if c not in cycles
    ]  # closed only by imports inside functions
    deferred_text = "".join(f"\n  {cycle_path(c, EDGES)}" for c in deferred)
    if deferred and not cycles:
        warnings.warn(
            "import cycles closed only inside functions (not an error):" + deferred_text,
            stacklevel=1,
        )
    assert not cycles, (
        "import cycles between keras_lr modules (module-level imports):"
        + "".join(f"\n  {cycle_path(c, module_level)}" for c in cycles)
        + (
            "\nand cycles closed only by imports inside functions:" + deferred_text
            if deferred
            else ""
        )
    )


# The layers of CONTRIBUTING.md: what each part of keras_lr may import (its
# own modules always), counting imports inside functions too.  A new top-level
# module or folder joins this table.
LEAVES = {"_version", "_validation", "_deprecation", "_io", "_data"}
ALLOWED = {
    **{leaf: set() for leaf in LEAVES},
    "_compat": set(),
    "schedules": {"_validation", "_deprecation"},
    "_state": {"_compat"},
    "_rate": {"_compat", "_state", "schedules", "_validation"},
    "_momentum": {"_compat", "schedules"},
    "_history": {"schedules", "_validation", "_io"},
    "_layer_decay": {"_compat", "_rate", "_validation"},
    # `plot_schedule` tells a scheduling callback from a schedule by its class.
    "plots": {"schedules", "_validation", "_io", "_history", "callbacks"},
    "callbacks": {
        "_compat",
        "_rate",
        "_state",
        "_history",
        "_momentum",
        "schedules",
        *LEAVES,
    },
}
ALLOWED["finder"] = ALLOWED["callbacks"] | {"callbacks", "plots"}
ALLOWED["ensembles"] = ALLOWED["callbacks"] | {"callbacks", "plots"}
ALLOWED["cli"] = set(ALLOWED) | {"finder", "ensembles", "callbacks", "plots", "keras_lr"}
ALLOWED["keras_lr"] = set(ALLOWED) - {"cli", "keras_lr"}  # the re-exports
ALLOWED["__main__"] = {"cli"}


def part(module: str) -> str:
    """ "_compat" for keras_lr._compat._optimizer, "keras_lr" for the top package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_imports_follow_the_layers():
    unknown = sorted({part(m) for m in SOURCES} - set(ALLOWED))
    assert not unknown, f"parts of keras_lr missing from ALLOWED in {__file__}: {unknown}"
    wrong = sorted(
        f"{SOURCES[e.source].relative_to(ROOT)}:{e.line} {e.source} imports {e.target}"
        f"{'' if e.module_level else ' (in a function)'}"
        for e in EDGES
        if part(e.source) != part(e.target) and part(e.target) not in ALLOWED[part(e.source)]
    )
    assert not wrong, "imports against the layers (see CONTRIBUTING.md):\n  " + "\n  ".join(wrong)


# -- (b) sizes ------------------------------------------------------------------


def test_no_module_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in SOURCES.values()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(
        f"{p} ({n})" for p, n in sorted(long.items(), key=lambda kv: -kv[1])
    )


def test_no_class_over_150_lines():
    long = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n = node.end_lineno - first + 1
                if n > MAX_CLASS_LINES:
                    long.append((n, f"{module}.{node.name} ({n}, {where(module, node)})"))
    assert not long, f"classes over {MAX_CLASS_LINES} lines: " + ", ".join(
        text for _, text in sorted(long, reverse=True)
    )


# -- (c) private internals only in _compat ----------------------------------------

# Packages whose private parts keras_lr must reach only through `_compat`.
FOREIGN = ("keras", "tensorflow", "tf", "jax", "jaxlib", "torch", "tf_keras", "h5py")
# Module paths that are internal although no part starts with "_".
INTERNAL_MODULES = ("keras.src", "tensorflow.python", "tensorflow.core", "tf_keras.src")

# Private attributes of Keras objects that `_compat` wraps.  They are flagged
# wherever they appear outside it, even where a keras_lr class happens to
# define an attribute of the same name.
KERAS_PRIVATE = {
    "_learning_rate",
    "_iterations",
    "_variables",
    "_tracker",
    "_track_variable",
    "_untrack_variable",
    "_distribution_strategy",
    "_get_current_learning_rate",
    "_jax_state",
    "_direction",
    "_user_metrics",
    "_user_weighted_metrics",
    "_compile_metrics",
    "_loss_tracker",
}

# "<path>:<line> <code>" entries that are allowed anyway, each with the reason.
# Keep it empty: a private touch belongs in `_compat`, with a test in
# tests/test_compat.py.
WHITELIST: dict[str, str] = {}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _internal_module(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] not in FOREIGN:
        return False
    full = "tensorflow" + dotted[2:] if parts[0] == "tf" else dotted
    return any(full == m or full.startswith(m + ".") for m in INTERNAL_MODULES) or any(
        _is_private(p) for p in parts[1:]
    )


def keras_lr_members() -> set[str]:
    """Private names keras_lr's own classes define (outside `_compat`).

    An access `x._name` elsewhere is taken to be one of these when `_name` is
    one (approximate: the type of `x` is not known to `ast`).
    """
    names = set()
    for module, tree in TREES.items():
        if in_compat(module):
            continue
        for cls in ast.walk(tree):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in ast.walk(cls):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in ("self", "cls")
                ):
                    names.add(node.attr)
    return {name for name in names if _is_private(name)} - KERAS_PRIVATE


def module_aliases(tree: ast.AST) -> set[str]:
    """Local names bound to a keras_lr module (`from keras_lr import _rate as R`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "keras_lr":
                    names.add(alias.asname or "keras_lr")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level or base == "keras_lr" or base.startswith("keras_lr."):
                # Modules or not: a keras_lr class's own private is keras_lr's.
                names.update(alias.asname or alias.name for alias in node.names)
    return names


def _owner_is_exempt(value: ast.expr, aliases: set[str]) -> bool:
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls") or value.id in aliases
    # `super()`, `type(self)`
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and (
            value.func.id == "super"
            or (
                value.func.id == "type"
                and len(value.args) == 1
                and isinstance(value.args[0], ast.Name)
                and value.args[0].id == "self"
            )
        )
    )


def private_touches(module: str, own: set[str]) -> list[str]:
    tree = TREES[module]
    aliases = module_aliases(tree)
    found = []

    def flag(node, text):
        found.append(f"{where(module, node)} {text}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _internal_module(alias.name):
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if _internal_module(node.module):
                flag(node, f"from {node.module} import ...")
            elif node.module.split(".")[0] in FOREIGN:
                for alias in node.names:
                    if _internal_module(f"{node.module}.{alias.name}"):
                        flag(node, f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            outer = _dotted(node.value)
            if dotted and _internal_module(dotted) and not (outer and _internal_module(outer)):
                flag(node, dotted)  # `keras.src.x`: once, at its outermost internal part
            elif _is_private(node.attr) and not _owner_is_exempt(node.value, aliases):
                if node.attr in KERAS_PRIVATE or node.attr not in own:
                    flag(node, ast.unparse(node))
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("__setattr__", "__delattr__")
                and isinstance(func.value, ast.Name)
                and func.value.id == "object"
            ):
                flag(node, f"object.{func.attr}(...)  (use _compat.set_untracked)")
            elif (
                isinstance(func, ast.Name)
                and func.id in ("getattr", "setattr", "hasattr", "delattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _is_private(node.args[1].value)
                and not _owner_is_exempt(node.args[0], aliases)
            ):
                name = node.args[1].value
                if name in KERAS_PRIVATE or name not in own:
                    flag(node, ast.unparse(node))
    return found


def test_private_internals_only_in_compat():
    own = keras_lr_members()
    found = [
        touch
        for module in SOURCES
        if not in_compat(module)
        for touch in private_touches(module, own)
    ]
    found = [t for t in found if t not in WHITELIST]
    assert not found, (
        "private Keras/TensorFlow/JAX/torch internals outside keras_lr/_compat/ "
        "(move each into _compat with the Keras versions it is for, and pin it in "
        "tests/test_compat.py):\n  " + "\n  ".join(sorted(found))
    )


def test_the_private_check_flags_what_it_should():
    # The check above passes on code that has nothing to find; here it must.
    sample = """
import keras
from keras.src.models.functional import Functional
from tensorflow.python.ops import gen_resource_variable_ops
import jax._src.core
from keras_lr import schedules as S

def f(optimizer, model, schedule, finder):
    optimizer._learning_rate = 0.1
    model._jax_state = None
    getattr(optimizer, "_iterations", None)
    object.__setattr__(model, "x", 1)
    keras.src.backend.Variable
    return schedule._rate(0), finder._own, self._state, S._helper, super()._config, type(self)._spec
"""
    name = "keras_lr._sample"
    TREES[name], SOURCES[name] = ast.parse(sample), PACKAGE / "_sample.py"
    try:
        found = [t.split(" ", 1)[1] for t in private_touches(name, {"_rate", "_own"})]
    finally:
        del TREES[name], SOURCES[name]
    assert sorted(found) == sorted(
        [
            "from keras.src.models.functional import ...",
            "from tensorflow.python.ops import ...",
            "import jax._src.core",
            "object.__setattr__(...)  (use _compat.set_untracked)",
            "getattr(optimizer, '_iterations', None)",
            "optimizer._learning_rate",
            "model._jax_state",
            "keras.src",
        ]
    ), found


# -- (d) public names -------------------------------------------------------------

PUBLIC_PACKAGES = sorted(
    name
    for name in PACKAGES
    if name != "keras_lr" and not any(_is_private(p) for p in name.split("."))
)
# Public subpackages whose names are not part of the library's API.
NOT_LIBRARY_API = {"keras_lr.cli": "the `keras-lr` command (setup.cfg console_scripts)"}


def test_private_modules_start_with_an_underscore():
    # A folder's public names live in its `__init__`; its modules are private.
    public = [
        name
        for name in SOURCES
        if name not in PACKAGES and name.count(".") >= 2 and not name.split(".")[-1].startswith("_")
    ]
    assert not public, f"modules in a folder that do not start with `_`: {public}"


def test_all_names_import_and_are_unique():
    import keras_lr

    assert len(keras_lr.__all__) == len(set(keras_lr.__all__)), "duplicates in keras_lr.__all__"
    missing = [name for name in keras_lr.__all__ if not hasattr(keras_lr, name)]
    assert not missing, f"keras_lr.__all__ names that do not import: {missing}"
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        names = getattr(module, "__all__", None)
        assert names is not None, f"{package} has no __all__"
        assert len(names) == len(set(names)), f"duplicates in {package}.__all__"
        missing = [name for name in names if not hasattr(module, name)]
        assert not missing, f"{package}.__all__ names that do not import: {missing}"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_public_name_of_a_subpackage_is_reachable_from_keras_lr(package):
    import keras_lr

    if package in NOT_LIBRARY_API:
        pytest.skip(NOT_LIBRARY_API[package])
    module = importlib.import_module(package)
    # keras_lr.schedules.Cyclic is reached through `schedules`, which
    # keras_lr.__all__ offers; callbacks.CyclicLR must be keras_lr.CyclicLR.
    via = [p for p in keras_lr.__all__ if package == f"keras_lr.{p}"]
    unreachable = [
        name
        for name in getattr(module, "__all__", ())
        if not via and getattr(keras_lr, name, None) is not getattr(module, name)
    ]
    assert not unreachable, (
        f"names in {package}.__all__ that keras_lr.__all__ does not offer "
        f"(export them, or drop them from {package}.__all__): {unreachable}"
    )


def test_snapshot_file_not_found_error_is_exported():
    import keras_lr

    assert "SnapshotFileNotFoundError" in keras_lr.__all__
    assert issubclass(keras_lr.SnapshotFileNotFoundError, Exception)
    assert keras_lr.SnapshotFileNotFoundError is keras_lr.ensembles.SnapshotFileNotFoundError


def test_the_cycle_check_tells_a_re_export_from_an_import_back():
    # A package re-exporting its children is no cycle; a child importing a
    # name back from its package's `__init__` is one; a child importing a
    # sibling through the package (`from pkg import _sibling`) is not.
    sample = {
        "keras_lr._pkg": "from keras_lr._pkg._a import A\nfrom keras_lr._pkg._b import B\n",
        "keras_lr._pkg._a": "from keras_lr._pkg import _b\n",
        "keras_lr._pkg._b": "from keras_lr._pkg import A\n",
        "keras_lr._pkg._c": "def f():\n    from . import _b\n",
    }
    for name, text in sample.items():
        TREES[name], SOURCES[name] = ast.parse(text), PACKAGE / f"{name}.py"
    PACKAGES.add("keras_lr._pkg")
    try:
        edges = [e for name in sample for e in import_edges(name)]
        cycles = strongly_connected(list(sample), edges)
        path = cycle_path(cycles[0], edges) if cycles else ""
    finally:
        for name in sample:
            del TREES[name], SOURCES[name]
        PACKAGES.discard("keras_lr._pkg")
    found = {(e.source, e.target, e.module_level) for e in edges}
    assert found == {
        ("keras_lr._pkg", "keras_lr._pkg._a", True),
        ("keras_lr._pkg", "keras_lr._pkg._b", True),
        ("keras_lr._pkg._a", "keras_lr._pkg._b", True),
        ("keras_lr._pkg._b", "keras_lr._pkg", True),
        ("keras_lr._pkg._c", "keras_lr._pkg._b", False),
    }
    assert cycles == [["keras_lr._pkg", "keras_lr._pkg._a", "keras_lr._pkg._b"]]
    # The shortest cycle, each step with its line.
    assert path.startswith("keras_lr._pkg -> keras_lr._pkg._b (") and path.count("->") == 2, path
    assert path.endswith("_b.py:1)"), path
