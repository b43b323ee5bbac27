"""The must-run gate: a pytest plugin (loaded by ``tests/conftest.py``) that nothing can skip in CI.

The tiers named by the ini option ``must_run_markers`` (pyproject.toml) must run in CI. When the environment
variable ``CI`` is set, the run fails (exit status 1) if

* a test of a must-run tier is skipped (``pytest.skip``, ``skipif``, a fixture that skips, ``importorskip``);
* any test is skipped without a reason;
* a module or package is skipped while it is collected (``pytest.skip(allow_module_level=True)``, a module-level
  ``importorskip``): its tests, and their markers, are never seen, so any such skip fails;
* a test of a must-run tier is deselected (``-m "not distributed"``, ``-k``, ``--deselect``);
* the command line ignores paths (``--ignore``, ``--ignore-glob``) or overrides ``must_run_markers``
  (``-o`` / ``--override-ini``, also through ``PYTEST_ADDOPTS``: the tiers are the project's, not the run's);
* a must-run tier has no PASSED test (a tier left out by ``--ignore``, by naming other paths, or whose tests all
  failed to be collected);
* a conftest drops tests without saying so: ``collect_ignore`` / ``collect_ignore_glob``, a
  ``pytest_ignore_collect`` hook, or a ``pytest_collection_modifyitems`` that removes must-run items without
  reporting them as deselected.

Without ``CI`` the same findings are only reported, in a section of the terminal summary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

#: The default of ``must_run_markers`` (pyproject.toml sets it for the project).
DEFAULT_MUST_RUN = ("system", "postgres", "fidelity", "distributed", "lineage")


@dataclass
class _Findings:
    must_run: tuple[str, ...] = DEFAULT_MUST_RUN
    passed: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    collection_skips: list[str] = field(default_factory=list)
    deselected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def problems(self) -> list[tuple[str, list[str]]]:
        unpassed = [m for m in self.must_run if not self.passed.get(m)]
        missing = [f"no test of these tiers passed: {', '.join(unpassed)}"] if unpassed else []
        sections = [
            ("tiers that must run were skipped", self.skipped),
            ("skips without a reason", self.unexplained),
            ("modules skipped while collected (their tests never ran)", self.collection_skips),
            ("must-run tests deselected", self.deselected),
            ("paths ignored or must-run tiers overridden on the command line", self.ignored),
            ("tests dropped by a conftest without being reported", self.dropped),
            ("must-run tiers without a passed test", missing),
        ]
        return [(title, lines) for title, lines in sections if lines]


def _reason(longrepr: Any) -> str:
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr or "")
    return str(reason).removeprefix("Skipped: ").strip()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "must_run_markers",
        "markers of the tiers that must run in CI (the must-run gate, tests/must_run_gate.py)",
        type="linelist",
        default=list(DEFAULT_MUST_RUN),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(MustRunGate(config), "must-run-gate")


class MustRunGate:
    """The gate of one session: collects the findings, reports them, and fails the run in CI."""

    def __init__(self, config: pytest.Config) -> None:
        self.findings = _Findings(must_run=tuple(config.getini("must_run_markers")))
        for option in ("ignore", "ignore_glob"):
            for path in config.getoption(option, None) or []:
                self.findings.ignored.append(f"--{option.replace('_', '-')} {path}")
        for override in config.getoption("override_ini", None) or []:
            if override.split("=", 1)[0].strip() == "must_run_markers":
                self.findings.ignored.append(f"-o {override} (the must-run tiers are set in pyproject.toml)")

        self.tiers_of: dict[str, list[str]] = {}  # nodeid -> its must-run markers (not keywords: a folder is one)
        self.deselected_ids: set[str] = set()
        self.config = config

    def _tiers(self, item: pytest.Item) -> list[str]:
        names = {mark.name for mark in item.iter_markers()}
        return [m for m in self.findings.must_run if m in names]

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.tiers_of[item.nodeid] = self._tiers(item)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.findings.collection_skips.append(f"{report.nodeid or '<session>'}: {_reason(report.longrepr)}")

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> Any:
        """Around every other implementation: a must-run item that leaves the list without being reported as
        deselected was dropped silently."""
        before = list(items)
        result = yield
        kept = {id(item) for item in items}
        for item in before:
            tiers = self._tiers(item)
            if tiers and id(item) not in kept and item.nodeid not in self.deselected_ids:
                self.findings.dropped.append(
                    f"{item.nodeid} [{', '.join(tiers)}]: removed by pytest_collection_modifyitems"
                )
        return result

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Conftests that can hide tests from collection (and so from the gate) are findings themselves."""
        for plugin in self.config.pluginmanager.get_plugins():
            name = str(getattr(plugin, "__file__", "") or "")
            if not name.endswith("conftest.py"):
                continue
            for attr in ("collect_ignore", "collect_ignore_glob"):
                if getattr(plugin, attr, None):
                    self.findings.dropped.append(f"{name}: {attr} = {getattr(plugin, attr)!r}")
            if hasattr(plugin, "pytest_ignore_collect"):
                self.findings.dropped.append(f"{name}: defines pytest_ignore_collect")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.deselected_ids.add(item.nodeid)
            tiers = self._tiers(item)
            if tiers:
                self.findings.deselected.append(f"{item.nodeid} [{', '.join(tiers)}]")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tiers = self.tiers_of.get(report.nodeid, [])
        if report.when == "call" and report.passed:
            for tier in tiers:
                self.findings.passed[tier] = self.findings.passed.get(tier, 0) + 1
        if not report.skipped:
            return
        reason = _reason(report.longrepr)
        if not reason or reason == "unconditional skip":
            self.findings.unexplained.append(report.nodeid)
        if tiers:
            self.findings.skipped.append(f"{report.nodeid} [{', '.join(tiers)}]: {reason}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        problems = self.findings.problems()
        for title, lines in problems:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)
        tally = ", ".join(f"{m}={self.findings.passed.get(m, 0)}" for m in self.findings.must_run)
        if problems and os.environ.get("CI"):
            terminalreporter.write_line(f"must-run gate: FAILED (CI is set; passed per tier: {tally})", red=True)
        elif problems:
            terminalreporter.write_line(f"must-run gate: reported only, CI is not set (passed per tier: {tally})")
        else:
            terminalreporter.write_line(f"must-run gate: ok (passed per tier: {tally})")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """In CI (``CI`` set) any finding fails a run that would otherwise pass."""
        if os.environ.get("CI") and self.findings.problems() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
