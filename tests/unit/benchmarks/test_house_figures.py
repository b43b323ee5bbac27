"""The code-shape figures of benchmarks/house_figures.py, on a tiny package written to a temp dir."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import house_figures as hf

PKG = "airflow_provider_customerio"  # the checkout's own name, so the child proves it beats the editable install


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _function(name: str, lines: int, decorator: bool = False) -> str:
    """A function of exactly ``lines`` lines (decorator included)."""
    head = ["@staticmethod"] if decorator else []
    body = [f"    x{i} = {i}" for i in range(lines - len(head) - 1)]
    return "\n".join([*head, f"def {name}():", *body]) + "\n"


def test_a_circle_between_two_modules_is_found(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            f"{PKG}/__init__.py": "",
            f"{PKG}/a.py": f"from {PKG} import b\n",
            f"{PKG}/b.py": "from . import a\n",
            f"{PKG}/c.py": f"import {PKG}.a\n",
        },
    )
    assert hf.import_circles(hf.import_graph(root)) == [[f"{PKG}.a", f"{PKG}.b"]]


def test_a_type_checking_import_is_ignored_and_a_deferred_one_counted_apart(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            f"{PKG}/__init__.py": "",
            f"{PKG}/a.py": f"""\
                from typing import TYPE_CHECKING
                from {PKG}.b import thing
                if TYPE_CHECKING:
                    from {PKG}.c import Other
                """,
            f"{PKG}/b.py": f"from {PKG}.a import x\nthing = 1\n",  # a <-> b at module level
            f"{PKG}/c.py": f"from {PKG} import a\n",  # c -> a; a -> c only for type checkers
            f"{PKG}/d.py": f"def f():\n    from {PKG}.e import y\n",
            f"{PKG}/e.py": f"from {PKG}.d import f\n",  # e -> d; d -> e only inside a function
        },
    )
    assert hf.import_circles(hf.import_graph(root)) == [[f"{PKG}.a", f"{PKG}.b"]]
    every = hf.import_graph(root, deferred=True, type_checking=True)
    assert hf.import_circles(every) == [[f"{PKG}.a", f"{PKG}.b", f"{PKG}.c"], [f"{PKG}.d", f"{PKG}.e"]]
    assert hf.import_circles(hf.import_graph(root, deferred=True)) == [
        [f"{PKG}.a", f"{PKG}.b"],
        [f"{PKG}.d", f"{PKG}.e"],
    ]


def test_a_module_importing_itself_is_a_circle(tmp_path: Path) -> None:
    root = _write(tmp_path, {f"{PKG}/__init__.py": "", f"{PKG}/a.py": f"import {PKG}.a\n"})
    assert hf.import_circles(hf.import_graph(root)) == [[f"{PKG}.a"]]


def test_functions_over_60_lines_count_from_the_decorator(tmp_path: Path) -> None:
    method = textwrap.indent(_function("m", 61, decorator=True), "    ")
    root = _write(
        tmp_path,
        {
            f"{PKG}/__init__.py": "",
            f"{PKG}/f.py": _function("long", 61) + _function("fits", 60) + "class K:\n" + method,
            f"{PKG}/sandbox/s.py": _function("emulated", 81),
        },
    )
    hits = hf.long_functions(root)
    assert [(h["function"], h["line"], h["lines"]) for h in hits] == [("long", 1, 61), ("K.m", 124, 61)]
    assert [h["function"] for h in hf.long_functions(root, sandbox=True)] == ["emulated"]
    assert hf.long_functions(root, limit=hf.OLD_FUNCTION_LIMIT) == []


def test_module_sizes_name_the_modules_over_the_limits(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            f"{PKG}/__init__.py": "",
            f"{PKG}/big.py": "x = 1\n" * 601,
            f"{PKG}/operators/__init__.py": "",
            f"{PKG}/operators/op.py": "x = 1\n" * 251,
            f"{PKG}/operators/small.py": "x = 1\n" * 250,
            f"{PKG}/sandbox/huge.py": "x = 1\n" * 5000,
        },
    )
    sizes = hf.module_sizes(root)
    assert [s["module"] for s in sizes["over_600"]] == ["big.py"]
    assert [s["module"] for s in sizes["operators_over_250"]] == ["operators/op.py"]
    assert sizes["total_lines"] == 601 + 251 + 250
    assert sizes["largest_10"][0] == {"module": "big.py", "lines": 601}


def test_a_dags_import_closure_comes_from_the_checkout(tmp_path: Path) -> None:
    """The child imports the checkout's package, not the venv's editable install of the same name."""
    root = _write(
        tmp_path,
        {
            f"{PKG}/__init__.py": "",
            f"{PKG}/used.py": f"from {PKG} import helper\nX = 1\n",
            f"{PKG}/helper.py": "Y = 2\nZ = 3\n",
            f"{PKG}/unused.py": "W = 4\n",
            "dags/tiny_dag.py": f"from {PKG}.used import X\n",
            "dags/other_dag.py": "raise SystemExit('not this one')\n",
        },
    )
    (figures,) = hf.dag_figures(root, sys.executable, runs=1, preload=(), only=["tiny_dag.py"])
    assert figures["closure"] == [PKG, f"{PKG}.helper", f"{PKG}.used"]
    assert (figures["modules"], figures["lines"]) == (3, 0 + 2 + 2)
    assert len(figures["parse_s_runs"]) == 1


def test_a_package_from_elsewhere_is_refused(tmp_path: Path) -> None:
    """Without the package in the checkout, the child finds the editable install: no figures from it."""
    root = _write(tmp_path, {f"{PKG}_other/__init__.py": "", "dags/d.py": f"import {PKG}\n"})
    with pytest.raises(RuntimeError, match="not from the checkout"):
        hf.dag_figures(root, sys.executable, runs=1, preload=())
