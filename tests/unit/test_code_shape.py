"""The shape of the code a newcomer walks: short functions, one definition of the Brevo process statuses, operator
modules that hold operators only, and dependencies that go one way (hooks -> adapters -> sync)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_customerio"
#: The longest function (or method), in lines, from ``def`` to its last line.
MAX_FUNCTION_LINES = 80


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
def test_no_function_is_longer_than_80_lines(part: str) -> None:
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
    skip = ("__init__.py", "_common.py", "base.py")  # base.py: the lifecycle (SyncOperator and its SyncRun)
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
            if node.module not in (
                "airflow_provider_customerio.operators._common",
                "airflow_provider_customerio.operators.base",
            ):
                strays.append(f"import from {node.module}")
    assert not strays, f"{path.name} should hold operators only: {strays}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("hooks", ("adapters", "operators", "triggers")),
        ("adapters", ("operators", "triggers")),
        ("sync", ("hooks", "adapters", "operators", "triggers")),
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
