"""The figures of the code's shape (issue 25): module sizes, long functions, each example DAG's import closure and
parse time, and import circles.

Usage::

    python benchmarks/house_figures.py                  # the checkout this script lives in, as Markdown
    python benchmarks/house_figures.py /path/to/checkout --json
    python benchmarks/house_figures.py --no-dags        # static figures only (no subprocesses)
    python benchmarks/house_figures.py --dag customerio_people_to_brevo.py --runs 3   # one DAG
    python benchmarks/house_figures.py CHECKOUT --json-out figures.json > figures.md   # both, one measurement

Static figures (read with ``ast``, nothing imported):

- **modules**: every module of the package outside ``sandbox/`` with its line count; those over 600 lines, the
  operator modules (``operators/*.py``) over 250, and the largest 10.
- **functions**: functions and methods (nested ones too) over 60 lines, counted from the first decorator to the
  last line, outside ``sandbox/`` and (apart) in it; also the count over 80 outside it.
- **circles**: module-level imports between package modules (``sandbox/`` included), ignoring imports inside
  functions and under ``if TYPE_CHECKING:``; each circle is a strongly connected component of more than one
  module, or a module importing itself. Listed three times: with module-level imports only, counting the imports
  inside functions too (those written there to dodge a circle), and counting every import (``if TYPE_CHECKING:``
  too: the reading of issue 25's count). An edge goes to the module an import names
  (``from pkg import sub`` to ``pkg.sub`` when that is a module); the implicit import of parent packages is not
  an edge.

Per example DAG (``dags/*.py``), in ``--runs`` fresh child processes (median reported, after one discarded
warm-up run that also writes the bytecode caches): the child imports the ``--preload`` modules (Airflow, which the
DAG processor has loaded already), then times ``exec_module`` of the DAG file alone and records the package
modules that import added to ``sys.modules`` (the import closure) and their lines. Wall and CPU time are both
reported: the CPU time of the child is less disturbed by other processes on a shared machine. The child runs with
``PYTHONPATH=<checkout>`` (ahead of any editable install of the package) and ``AIRFLOW_HOME`` in a temp dir; the
parent refuses figures whose package was not imported from the checkout.

Nothing here is asserted on time by a test; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

PACKAGE = "airflow_provider_customerio"
MODULE_LIMIT = 600
OPERATOR_MODULE_LIMIT = 250
FUNCTION_LIMIT = 60
OLD_FUNCTION_LIMIT = 80
DEFAULT_PRELOAD = ("airflow", "airflow.sdk")
MARKER = "HOUSE_FIGURES_JSON "

# The child: argv = [-c, dag_path, package, preload (comma separated)]; prints one MARKER line of JSON.
CHILD = r"""
import importlib, importlib.util, json, sys, time
dag_path, package, preload = sys.argv[1], sys.argv[2], [m for m in sys.argv[3].split(",") if m]
for name in preload:
    importlib.import_module(name)
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("house_figures_dag", dag_path)
module = importlib.util.module_from_spec(spec)
started, cpu_started = time.perf_counter(), time.process_time()
spec.loader.exec_module(module)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
closure = sorted(
    (name, getattr(sys.modules[name], "__file__", None) or "")
    for name in set(sys.modules) - before
    if name == package or name.startswith(package + ".")
)
preloaded = sorted(n for n in before if n == package or n.startswith(package + "."))
root = sys.modules.get(package)
print(MARKER + json.dumps({
    "seconds": elapsed,
    "cpu_seconds": cpu,
    "package_file": getattr(root, "__file__", None),
    "closure": closure,
    "preloaded": preloaded,
}))
"""


# --------------------------------------------------------------------------------------------------- modules


def module_name(root: Path, path: Path) -> str:
    """The dotted name of the module at ``path`` (``root`` holds the package directory)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_files(root: Path, package: str = PACKAGE, sandbox: bool = False) -> list[Path]:
    """The package's ``*.py`` files under ``root``, sorted; ``sandbox/`` only when asked."""
    files = sorted((root / package).rglob("*.py"))
    return [p for p in files if sandbox or "sandbox" not in p.relative_to(root / package).parts]


def count_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def module_sizes(root: Path, package: str = PACKAGE) -> dict[str, Any]:
    """Every non-sandbox module with its lines; the ones over the limits; the largest 10."""
    sizes: list[dict[str, Any]] = [
        {"module": p.relative_to(root / package).as_posix(), "lines": count_lines(p)}
        for p in package_files(root, package)
    ]
    by_size = sorted(sizes, key=lambda s: (-s["lines"], s["module"]))
    operators = [s for s in by_size if s["module"].startswith("operators/") and s["module"].count("/") == 1]
    return {
        "count": len(sizes),
        "total_lines": sum(s["lines"] for s in sizes),
        "over_600": [s for s in by_size if s["lines"] > MODULE_LIMIT],
        "operators_over_250": [s for s in operators if s["lines"] > OPERATOR_MODULE_LIMIT],
        "largest_10": by_size[:10],
        "all": sizes,
    }


# ------------------------------------------------------------------------------------------------- functions


def _functions(body: Iterable[ast.AST], prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function in ``body`` with its qualified name, nested functions and methods included."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{node.name}", node
            yield from _functions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node.body, f"{prefix}{node.name}.")
        else:
            yield from _functions(ast.iter_child_nodes(node), prefix)


def function_length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first decorator (or ``def``) to the last line."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return (node.end_lineno or node.lineno) - start + 1


def long_functions(
    root: Path, package: str = PACKAGE, limit: int = FUNCTION_LIMIT, sandbox: bool = False
) -> list[dict[str, Any]]:
    """Functions and methods longer than ``limit`` lines, longest first: outside ``sandbox/``, or only in it."""
    hits = []
    for path in package_files(root, package, sandbox=sandbox):
        if sandbox != ("sandbox" in path.relative_to(root / package).parts):
            continue
        where = path.relative_to(root / package).as_posix()
        for name, node in _functions(ast.parse(path.read_text(encoding="utf-8")).body, ""):
            length = function_length(node)
            if length > limit:
                hits.append({"module": where, "line": node.lineno, "function": name, "lines": length})
    return sorted(hits, key=lambda h: (-h["lines"], h["module"], h["line"]))


# --------------------------------------------------------------------------------------------------- circles


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(
    tree: ast.Module, deferred: bool = False, type_checking: bool = False
) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports run when the module is imported: not inside functions (unless ``deferred``), not under
    ``if TYPE_CHECKING:`` (unless ``type_checking``)."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
        else:
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _resolve(name: str, modules: set[str]) -> str | None:
    """``name`` if it is a package module, else its longest prefix that is one."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(
    root: Path, package: str = PACKAGE, deferred: bool = False, type_checking: bool = False
) -> dict[str, set[str]]:
    """Module -> the package modules it imports at module level (``sandbox/`` included); with ``deferred``, also
    the imports inside functions (the ones written there to break a circle); with ``type_checking``, also those
    under ``if TYPE_CHECKING:``."""
    files = {module_name(root, p): p for p in package_files(root, package, sandbox=True)}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in module_level_imports(tree, deferred, type_checking):
            targets: list[tuple[str, bool]] = []  # (resolved name, named explicitly)
            if isinstance(node, ast.Import):
                targets = [(alias.name, True) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    here = mod.split(".") if is_package else mod.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append((sub, True) if sub in modules else (base, False))
            for name, explicit in targets:
                target = _resolve(name, modules)
                if target is not None and (target != mod or explicit):
                    graph[mod].add(target)
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, and self-loops (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                circles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(circles)


# ------------------------------------------------------------------------------------------------------ DAGs


def _child_run(python: str, root: Path, dag: Path, package: str, preload: Iterable[str], home: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env["AIRFLOW_HOME"] = home
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = CHILD.replace("MARKER", repr(MARKER))
    proc = subprocess.run(
        [python, "-c", code, str(dag), package, ",".join(preload)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"importing {dag} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    where = result["package_file"]
    if not where or not Path(where).resolve().is_relative_to((root / package).resolve()):
        raise RuntimeError(f"{dag.name}: {package} was imported from {where}, not from the checkout {root}")
    return result


def dag_figures(
    root: Path,
    python: str,
    runs: int = 5,
    package: str = PACKAGE,
    preload: Iterable[str] = DEFAULT_PRELOAD,
    only: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Per ``dags/*.py`` (or the file names in ``only``): the package modules its import adds, their lines, and the
    median import time."""
    out = []
    wanted = set(only)
    with tempfile.TemporaryDirectory(prefix="house_figures_") as home:
        for dag in sorted((root / "dags").glob("*.py")):
            if wanted and dag.name not in wanted:
                continue
            _child_run(python, root, dag, package, preload, home)  # warm-up: config file, bytecode caches
            results = [_child_run(python, root, dag, package, preload, home) for _ in range(runs)]
            closure = results[-1]["closure"]
            out.append(
                {
                    "dag": dag.name,
                    "modules": len(closure),
                    "lines": sum(count_lines(Path(f)) for _, f in closure if f),
                    "preloaded": results[-1]["preloaded"],
                    "parse_s_median": statistics.median(r["seconds"] for r in results),
                    "parse_s_runs": [r["seconds"] for r in results],
                    "parse_cpu_s_median": statistics.median(r["cpu_seconds"] for r in results),
                    "closure": [name for name, _ in closure],
                }
            )
    return out


# ---------------------------------------------------------------------------------------------------- report


def _commit(root: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"


def figures(
    root: Path, python: str, runs: int, dags: bool, preload: Iterable[str], only: Iterable[str] = ()
) -> dict[str, Any]:
    longs = long_functions(root)
    return {
        "checkout": str(root),
        "commit": _commit(root),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "python": python,
        "preload": list(preload),
        "runs": runs,
        "modules": module_sizes(root),
        "functions": {
            "over_60_count": len(longs),
            "over_80_count": sum(1 for h in longs if h["lines"] > OLD_FUNCTION_LIMIT),
            "over_60": longs,
            "sandbox_over_60": long_functions(root, sandbox=True),
        },
        "dags": dag_figures(root, python, runs, preload=preload, only=only) if dags else [],
        "circles": import_circles(import_graph(root)),
        "circles_with_deferred": import_circles(import_graph(root, deferred=True)),
        "circles_with_all_imports": import_circles(import_graph(root, deferred=True, type_checking=True)),
    }


def markdown(f: dict[str, Any]) -> str:
    m, fn = f["modules"], f["functions"]
    out = [
        f"# House figures: commit {f['commit']}",
        "",
        f"Measured {f['date_utc']} UTC on a {f['cpus']}-core machine (shared, so parse times are noisy), "
        f"checkout `{f['checkout']}`, with `benchmarks/house_figures.py`.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| package modules outside `sandbox/` | {m['count']} ({m['total_lines']:,} lines) |",
        f"| modules over {MODULE_LIMIT} lines | {len(m['over_600'])} |",
        f"| operator modules over {OPERATOR_MODULE_LIMIT} lines | {len(m['operators_over_250'])} |",
        f"| functions over {FUNCTION_LIMIT} lines | {fn['over_60_count']} |",
        f"| functions over {OLD_FUNCTION_LIMIT} lines | {fn['over_80_count']} |",
        f"| functions over {FUNCTION_LIMIT} lines in `sandbox/` | {len(fn['sandbox_over_60'])} |",
        f"| import circles, module-level imports | {len(f['circles'])} |",
        f"| import circles, counting imports inside functions too | {len(f['circles_with_deferred'])} |",
        f"| import circles, counting every import (`if TYPE_CHECKING:` too) | {len(f['circles_with_all_imports'])} |",
    ]
    for d in f["dags"]:
        if d["dag"] == "customerio_people_to_brevo.py":
            out.append(f"| people DAG: package modules imported | {d['modules']} ({d['lines']:,} lines) |")
            out.append(f"| people DAG: parse time (median) | {d['parse_s_median'] * 1000:.0f} ms |")
            out.append(f"| people DAG: parse CPU time (median) | {d['parse_cpu_s_median'] * 1000:.0f} ms |")
    out += ["", "## Largest modules", "", "| module | lines |", "|---|---|"]
    out += [f"| `{s['module']}` | {s['lines']:,} |" for s in m["largest_10"]]
    out += ["", f"Over {MODULE_LIMIT} lines: " + (", ".join(f"`{s['module']}`" for s in m["over_600"]) or "none")]
    out += [
        "",
        f"Operator modules over {OPERATOR_MODULE_LIMIT} lines: "
        + (", ".join(f"`{s['module']}` ({s['lines']})" for s in m["operators_over_250"]) or "none"),
    ]
    out += ["", f"## Functions over {FUNCTION_LIMIT} lines", "", "| function | where | lines |", "|---|---|---|"]
    out += [
        f"| `{h['function']}` | `{h['module']}:{h['line']}` | {h['lines']} |"
        for h in [*fn["over_60"], *fn["sandbox_over_60"]]
    ]
    if f["dags"]:
        out += [
            "",
            "## Example DAGs: import closure and parse time",
            "",
            f"Child processes import {', '.join(f'`{p}`' for p in f['preload']) or 'nothing'} first, then the "
            f"DAG file is timed alone (wall clock, and the child's CPU time, which other load on the machine "
            f"disturbs less); median of {f['runs']} runs after one warm-up run.",
            "",
            "| DAG | package modules | their lines | parse time (median) | CPU time (median) | runs (ms) |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| `{d['dag']}` | {d['modules']} | {d['lines']:,} | {d['parse_s_median'] * 1000:.0f} ms | "
            f"{d['parse_cpu_s_median'] * 1000:.0f} ms | "
            + ", ".join(f"{s * 1000:.0f}" for s in d["parse_s_runs"])
            + " |"
            for d in f["dags"]
        ]
        pre = {n for d in f["dags"] for n in d["preloaded"]}
        out += [
            "",
            "Package modules the preload had imported already (not in the closure): "
            + (", ".join(f"`{n}`" for n in sorted(pre)) or "none")
            + ".",
        ]
    for key, title in (
        ("circles", "module-level imports (`if TYPE_CHECKING:` ignored)"),
        ("circles_with_deferred", "counting the imports inside functions too (`if TYPE_CHECKING:` ignored)"),
        ("circles_with_all_imports", "counting every import, `if TYPE_CHECKING:` too"),
    ):
        out += ["", f"## Import circles, {title}; `sandbox/` included", ""]
        out += [f"- {' ↔ '.join(f'`{c}`' for c in circle)}" for circle in f[key]] or ["none"]
    out += ["", "## All modules", "", "| module | lines |", "|---|---|"]
    out += [f"| `{s['module']}` | {s['lines']:,} |" for s in m["all"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--json-out", help="also write the JSON to this file")
    parser.add_argument("--runs", type=int, default=5, help="timed child processes per DAG (median)")
    parser.add_argument("--no-dags", action="store_true", help="skip the DAG import closures and parse times")
    parser.add_argument("--dag", action="append", default=[], help="only this DAG file name (repeatable)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the child processes")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD), help="modules the child imports first")
    args = parser.parse_args(argv)
    root = Path(args.checkout).resolve()
    preload = [m for m in args.preload.split(",") if m]
    result = figures(root, args.python, args.runs, not args.no_dags, preload, args.dag)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else markdown(result), end="" if not args.json else "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
