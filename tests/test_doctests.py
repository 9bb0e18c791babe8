"""Every `>>>` example in the raytl package's docstrings runs and prints what it shows (doctest), one test per
module; an example that needs a run directory, Ray or a GPU is prose, not a skipped example."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Modules whose skipped examples are someone else's open edit: each drops out of this list when its examples run.
MAY_SKIP = ("raytl/report/", "raytl/tasks/catalog.py", "raytl/tasks/readers.py", "raytl/tasks/generate.py",
            "raytl/search/space.py")


def _files_with_examples() -> list[Path]:
    """The package's modules with a `>>>` in them (read as text: collecting imports nothing)."""
    return sorted(path for path in (ROOT / "raytl").rglob("*.py")
                  if path.name != "__main__.py" and ">>>" in path.read_text(encoding="utf-8"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


FILES = _files_with_examples()


@pytest.mark.parametrize("path", FILES, ids=[_module_name(path) for path in FILES])
def test_docstring_examples_run(path: Path) -> None:
    module = importlib.import_module(_module_name(path))
    runner, report = doctest.DocTestRunner(optionflags=OPTIONS), []
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_examples_are_not_skipped() -> None:
    """`# doctest: +SKIP` hides an example that may no longer be true: write it so it runs, or as prose."""
    skipping = [str(path.relative_to(ROOT)) for path in FILES if "doctest: +SKIP" in path.read_text(encoding="utf-8")
                and not str(path.relative_to(ROOT)).startswith(MAY_SKIP)]
    assert skipping == []
