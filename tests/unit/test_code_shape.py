"""The shape of the code a newcomer walks: short functions, one definition of the Brevo process statuses, operator
modules that hold operators only, and dependencies that go one way (hooks -> adapters -> sync)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_customerio"
#: The longest function (or method), in lines, from ``def`` (or its first decorator) to its last line.
MAX_FUNCTION_LINES = 60
#: The longest module, in lines (the sandbox included), and the longest operator module.
MAX_MODULE_LINES = 600
MAX_OPERATOR_MODULE_LINES = 250


def _parts() -> list[str]:
    """The package's subpackages, and ``.`` for its top-level modules."""
    subs = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    return [".", *subs]


def _modules(part: str) -> list[Path]:
    if part == ".":
        return sorted(PACKAGE.glob("*.py"))
    return sorted((PACKAGE / part).rglob("*.py"))


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    return out


@pytest.mark.parametrize("part", _parts())
def test_no_function_is_longer_than_60_lines(part: str) -> None:
    long = [hit for path in _modules(part) for hit in _long_functions(path)]
    assert not long, "split these functions:\n" + "\n".join(long)


def test_the_brevo_process_statuses_are_defined_once() -> None:
    """Brevo's status words appear as literals in ``hooks/brevo_status.py`` only (the sandbox emulates Brevo), and
    the sync core never compares one: it reads the outcome the adapters translate them into."""
    pattern = re.compile(r"""["'](queued|in_process|processing|completed|canceled|cancelled)["']""")
    hits = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "sandbox" not in path.parts and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert hits == ["hooks/brevo_status.py"]
    from airflow_provider_customerio.hooks.brevo_status import BrevoProcessStatus

    assert {s.value for s in BrevoProcessStatus} >= {"queued", "in_process", "completed", "failed"}


def _operator_modules() -> list[Path]:
    skip = ("__init__.py", "base.py")  # base.py: the lifecycle (SyncOperator and its SyncRun)
    return [p for p in sorted((PACKAGE / "operators").glob("*.py")) if p.name not in skip]


@pytest.mark.parametrize("path", _operator_modules(), ids=lambda p: p.name)
def test_operator_modules_define_operators_only(path: Path) -> None:
    """Module-level classes are operators (``*Operator``, or a private base of them); no module-level functions;
    and no import of another operator module but the lifecycle's base (``operators/base.py``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    strays = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            strays.append(f"function {node.name}")
        elif isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b) for b in node.bases}
            is_operator = node.name.endswith("Operator") or node.name.endswith("OperatorBase")
            base_ok = bases & {"BaseOperator", "SyncOperator"} or any(b.endswith("OperatorBase") for b in bases)
            if not is_operator or not base_ok:
                strays.append(f"class {node.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "airflow_provider_customerio.operators"
        ):
            if node.module != "airflow_provider_customerio.operators.base":
                strays.append(f"import from {node.module}")
    assert not strays, f"{path.name} should hold operators only: {strays}"


@pytest.mark.parametrize("part", _parts())
def test_no_module_is_longer_than_600_lines(part: str) -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)} ({n} lines)"
        for path in _modules(part)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "split these modules:\n" + "\n".join(long)


def test_operator_modules_are_at_most_250_lines() -> None:
    long = [
        f"{path.name} ({n} lines)"
        for path in sorted((PACKAGE / "operators").glob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_OPERATOR_MODULE_LINES
    ]
    assert not long, "operators hold no logic: move it to sync/ or adapters/:\n" + "\n".join(long)


def test_no_re_export_modules() -> None:
    """A module that only imports (and lists ``__all__``) adds a second name for code that lives elsewhere."""
    shims = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        body = [n for n in ast.parse(path.read_text(encoding="utf-8")).body if not _is_docstring(n)]
        if body and all(isinstance(n, (ast.Import, ast.ImportFrom)) or _is_all(n) for n in body):
            shims.append(str(path.relative_to(PACKAGE)))
    assert not shims, f"modules that only re-export: {shims}"


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_all(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.unparse(node)


def test_package_inits_hold_no_code() -> None:
    """``__init__.py`` files of the capability packages hold a docstring only: no re-exports, no code."""
    busy = []
    for path in sorted(PACKAGE.rglob("__init__.py")):
        if "sandbox" in path.parts or path.parent == PACKAGE:
            continue
        body = [n for n in ast.parse(path.read_text(encoding="utf-8")).body if not _is_docstring(n)]
        if any(not (isinstance(n, ast.ImportFrom) and n.module == "__future__") for n in body):
            busy.append(str(path.relative_to(PACKAGE)))
    assert not busy, f"__init__.py with code (keep a docstring only): {busy}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("hooks", ("adapters", "operators", "triggers")),
        ("adapters", ("operators", "triggers")),
        ("sync", ("hooks", "adapters", "operators", "triggers", "runs")),
        ("runs", ("operators",)),
        ("store", ("hooks", "adapters", "operators", "triggers", "runs")),
    ],
)
def test_dependencies_go_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == "airflow_provider_customerio" and len(parts) > 1 and parts[1] in forbidden:
                    bad.append(f"{path.name}: {node.module}")
    assert not bad, f"{layer}/ must not import {forbidden}: {bad}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports run when the module is imported: not those in functions, nor under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level_imports(block)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at module level (``from pkg import mod`` names the module)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in candidates:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    """No package modules import each other in a loop at module level (imports inside functions and under
    ``if TYPE_CHECKING:`` do not count): a dependency goes one way, so each module reads on its own."""
    circles = _circles(_import_graph())
    assert not circles, "break these import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


UNIT_TESTS = PACKAGE.parent / "tests" / "unit"


def _unit_test_module(module: Path) -> Path | None:
    """The unit-test module mirroring ``module``: ``a/b/_c.py`` -> ``tests/unit/a/b/test_c.py`` (leading
    underscores dropped); None for the exempt ones (``__init__.py``, ``__main__.py``, anything under ``sandbox/``)."""
    rel = module.relative_to(PACKAGE)
    if rel.parts[0] == "sandbox" or rel.name in ("__init__.py", "__main__.py"):
        return None
    return UNIT_TESTS.joinpath(*rel.parts[:-1], "test_" + rel.name.lstrip("_"))


def test_the_mirror_maps_a_module_to_its_test_module() -> None:
    assert _unit_test_module(PACKAGE / "store" / "_sql.py") == UNIT_TESTS / "store" / "test_sql.py"
    assert _unit_test_module(PACKAGE / "pools.py") == UNIT_TESTS / "test_pools.py"
    assert _unit_test_module(PACKAGE / "sync" / "people" / "job.py") == UNIT_TESTS / "sync" / "people" / "test_job.py"
    assert _unit_test_module(PACKAGE / "store" / "__main__.py") is None
    assert _unit_test_module(PACKAGE / "sandbox" / "brevo" / "core.py") is None


def test_every_module_has_its_unit_test_module() -> None:
    """Tests mirror the tree: each source module has one unit-test module at the mirrored path, in a test package
    (every directory from ``tests/unit`` down has an ``__init__.py``), so a newcomer finds a module's tests by name."""
    missing = []
    for module in sorted(PACKAGE.rglob("*.py")):
        test = _unit_test_module(module)
        if test is None:
            continue
        if not test.exists():
            missing.append(str(test.relative_to(PACKAGE.parent)))
            continue
        packages = [test.parent, *test.parent.parents]
        missing += [
            str((d / "__init__.py").relative_to(PACKAGE.parent))
            for d in packages[: packages.index(UNIT_TESTS) + 1]
            if not (d / "__init__.py").exists()
        ]
    assert not missing, "add these unit-test modules:\n" + "\n".join(sorted(set(missing)))
