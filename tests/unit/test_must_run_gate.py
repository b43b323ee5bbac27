"""The must-run gate (tests/must_run_gate.py) on a tiny test tree run by pytest in a child process: every way of not
running a must-run tier fails the run when ``CI`` is set, and is only reported without it. Also: ``.ci/run`` sets
``CI`` and runs ``make test``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

INI = """
[pytest]
markers =
    system: a must-run tier
    lineage: a must-run tier
must_run_markers =
    system
    lineage
"""

TREE = {
    "test_plain.py": """
        def test_plain():
            assert 1 + 1 == 2
    """,
    "tier_system/test_system.py": """
        import pytest
        pytestmark = pytest.mark.system

        def test_one():
            assert True

        def test_two():
            assert True
    """,
    "tier_lineage/test_lineage.py": """
        import pytest

        @pytest.mark.lineage
        def test_lineage():
            assert True

        def test_not_a_tier():
            assert True
    """,
}

#: Each way past the gate: extra files of the tree and extra pytest arguments.
BYPASSES = {
    "module-level skip": (
        {"test_mod_skip.py": "import pytest\npytest.skip('no backend', allow_module_level=True)\n"},
        [],
    ),
    "module-level importorskip": (
        {"test_mod_importorskip.py": "import pytest\npytest.importorskip('no_such_module_xyz')\n"},
        [],
    ),
    "skip in a must-run test": (
        {
            "tier_system/test_skips.py": "import pytest\n\n@pytest.mark.system\ndef test_s():\n"
            "    pytest.skip('no browser')\n"
        },
        [],
    ),
    "skip in a must-run fixture": (
        {
            "tier_lineage/test_fixture_skip.py": "import pytest\n\n@pytest.fixture\ndef backend():\n"
            "    pytest.skip('no provider')\n\n@pytest.mark.lineage\ndef test_f(backend):\n    pass\n"
        },
        [],
    ),
    "skip without a reason": (
        {"test_bare_skip.py": "import pytest\n\n@pytest.mark.skip\ndef test_b():\n    pass\n"},
        [],
    ),
    "tier deselected with -m": ({}, ["-m", "not system"]),
    "tier deselected with -k": ({}, ["-k", "not test_lineage"]),
    "test deselected with --deselect": ({}, ["--deselect", "tier_system/test_system.py::test_two"]),
    "tier ignored": ({}, ["--ignore", "tier_lineage"]),
    "tier left out by naming other paths": ({}, ["test_plain.py", "tier_system"]),
    "tiers overridden with -o": ({}, ["-o", "must_run_markers=system"]),
    "tiers emptied with --override-ini": ({}, ["--override-ini=must_run_markers="]),
    "part of a tier hidden by a conftest's collect_ignore": (
        {
            "tier_system/test_more.py": "import pytest\n\n@pytest.mark.system\ndef test_more():\n    pass\n",
            "tier_system/conftest.py": "collect_ignore = ['test_more.py']\n",
        },
        [],
    ),
    "part of a tier hidden by a conftest's pytest_ignore_collect": (
        {
            "tier_system/test_more.py": "import pytest\n\n@pytest.mark.system\ndef test_more():\n    pass\n",
            "tier_system/conftest.py": "def pytest_ignore_collect(collection_path, config):\n"
            "    return True if collection_path.name == 'test_more.py' else None\n",
        },
        [],
    ),
    "a must-run test dropped silently by a conftest": (
        {
            "conftest.py": "def pytest_collection_modifyitems(items):\n"
            "    items[:] = [i for i in items if i.name != 'test_two']\n"
        },
        [],
    ),
}


def _tree(root: Path, extra: dict[str, str]) -> Path:
    (root / "pytest.ini").write_text(INI)
    for name, text in {**TREE, **extra}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _run(root: Path, args: list[str], ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.must_run_gate", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_clean_run_passes_with_and_without_ci(tmp_path: Path) -> None:
    root = _tree(tmp_path, {})
    for ci in (None, "true"):
        proc = _run(root, [], ci)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "must-run gate: ok (passed per tier: system=2, lineage=1)" in proc.stdout


@pytest.mark.parametrize("bypass", list(BYPASSES))
def test_every_bypass_fails_in_ci_and_is_reported_without(tmp_path: Path, bypass: str) -> None:
    extra, args = BYPASSES[bypass]
    root = _tree(tmp_path, extra)
    local = _run(root, args, None)
    assert local.returncode == 0, local.stdout[-3000:]
    assert "must-run gate: reported only, CI is not set" in local.stdout, local.stdout[-3000:]
    ci = _run(root, args, "true")
    assert ci.returncode == 1, ci.stdout[-3000:]
    assert "must-run gate: FAILED (CI is set" in ci.stdout, ci.stdout[-3000:]


def test_the_findings_name_what_was_left_out(tmp_path: Path) -> None:
    root = _tree(tmp_path, BYPASSES["module-level importorskip"][0])
    out = _run(root, ["-m", "not system"], "true").stdout
    assert "modules skipped while collected" in out and "test_mod_importorskip.py" in out
    assert "must-run tests deselected" in out and "tier_system/test_system.py::test_one [system]" in out
    assert "no test of these tiers passed: system" in out


def test_a_failing_must_run_tier_keeps_its_failure(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"tier_system/test_bad.py": "import pytest\n\n@pytest.mark.system\ndef test_x():\n    assert 0\n"}
    )
    assert _run(root, [], "true").returncode == 1


LINEAGE_PATHS = ["tests/integration/test_openlineage.py", "tests/unit/test_lineage.py"]


def test_the_projects_must_run_tiers_include_lineage() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "lineage",
            *LINEAGE_PATHS,
        ],
        cwd=REPO_ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "CI"}, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert "tests/integration/test_openlineage.py::test_people_run_emits_lineage_with_vendor_uris" in ids
    assert "tests/unit/test_lineage.py::test_openlineage_facets_carry_uris_rows_and_schema" in ids
    assert "lineage=0" in proc.stdout  # collect-only: listed in the gate's tally (and nothing ran)


def _ci_run(tmp_path: Path, make: str, ci: str | None = None) -> subprocess.CompletedProcess[str]:
    """``.ci/run`` with stand-ins for ``make`` (body ``make``) and ``apt-get`` first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in {"make": make, "apt-get": "exit 0"}.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        ["bash", str(REPO_ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=300
    )


def test_ci_run_sets_ci_and_runs_make_test(tmp_path: Path) -> None:
    verdict = 'echo "make $* CI=$CI"; echo "must-run gate: ok (passed per tier: system=1)"'
    proc = _ci_run(tmp_path, verdict)
    assert proc.returncode == 0, proc.stderr
    assert "make test CI=true" in proc.stdout.splitlines()
    assert "make test CI=1" in _ci_run(tmp_path, verdict, ci="1").stdout.splitlines()
    # the failure of make test is CI's
    assert _ci_run(tmp_path, 'echo "must-run gate: FAILED (CI is set)"; exit 1').returncode == 1


def test_ci_run_fails_a_passing_run_without_the_gates_verdict(tmp_path: Path) -> None:
    """``PYTEST_ARGS=--noconftest`` or ``-p no:tests.must_run_gate`` would run the tests without the gate."""
    proc = _ci_run(tmp_path, 'echo "5 passed"')
    assert proc.returncode == 1 and "without the must-run gate's verdict" in proc.stderr
