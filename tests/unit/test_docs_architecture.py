"""docs/architecture.md cannot go stale silently: every module path it names exists, in its prose and in its tree."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
PACKAGE = "airflow_provider_customerio"
#: Top-level folders of the repository: a path starting with one of them is read from the repository's root, any
#: other relative path (``hooks/brevo.py``) from the package's.
REPO_DIRS = ("dags", "scripts", "tests", "benchmarks", "docs", PACKAGE)
#: A path of a Python module: folders and a ``.py`` name (the characters a placeholder such as ``<x>`` lacks).
PY_PATH = re.compile(r"(?<![\w./<>-])((?:[A-Za-z0-9_]+/)+[A-Za-z0-9_]+\.py)\b")
COMMENT = re.compile(r"<!--.*?-->", re.S)
#: The name column of the tree: deeper indentation is a continuation of the description.
TREE_NAME_COLUMN = 20


def _resolve(path: str) -> Path:
    first = path.split("/", 1)[0]
    return REPO / path if first in REPO_DIRS else REPO / PACKAGE / path


def named_paths(text: str) -> list[str]:
    """Every ``a/b.py`` path the text names, outside ``<!-- -->`` comments (notes to the doc's editors)."""
    return sorted(set(PY_PATH.findall(COMMENT.sub("", text))))


def tree_paths(text: str) -> list[str]:
    """The files and folders of the tree block (under ``## The tree``), as paths from the repository's root."""
    block = text.split("## The tree", 1)[1].split("```", 2)[1]
    stack: list[str] = []
    out = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent >= TREE_NAME_COLUMN:
            continue
        depth, name = indent // 2, line.split()[0].rstrip(",")
        if not name.endswith(("/", ".py")):
            continue  # a note such as "(webhook inbox ...)", or "tests/chaos, tests/fuzz"
        del stack[depth:]
        path = "/".join([*stack, name.rstrip("/")])
        out.append(path)
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
    return out


def test_the_walk_names_the_package_modules_in_full() -> None:
    full = [p for p in named_paths(DOC.read_text(encoding="utf-8")) if p.startswith(f"{PACKAGE}/")]
    assert len(full) >= 10, "the walk of a person record names each file by its full path"


def test_every_module_path_named_in_the_doc_exists() -> None:
    missing = [p for p in named_paths(DOC.read_text(encoding="utf-8")) if not _resolve(p).exists()]
    assert not missing, "docs/architecture.md names modules that do not exist (update the doc):\n" + "\n".join(missing)


def test_every_entry_of_the_tree_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "## The tree" in text, "the doc maps the code base in a code block under '## The tree'"
    entries = tree_paths(text)
    assert f"{PACKAGE}/hooks/brevo.py" in entries  # the parse follows the nesting
    missing = [p for p in entries if not (REPO / p).exists()]
    assert not missing, "the tree in docs/architecture.md lists what does not exist (update it):\n" + "\n".join(missing)


def test_the_path_finders_read_prose_and_nesting() -> None:
    text = (
        "See `hooks/_base.py` and airflow_provider_customerio/sync/mapping.py; not <x>/y.py.<!-- nor a/b.py -->\n"
        "## The tree\n```\npkg/\n  sub/\n    a.py              words words\n"
        "                          continued.py\n  b.py\ndags/\n```\n"
    )
    assert named_paths(text) == ["airflow_provider_customerio/sync/mapping.py", "hooks/_base.py"]
    assert tree_paths(text) == ["pkg", "pkg/sub", "pkg/sub/a.py", "pkg/b.py", "dags"]
