"""The package's layering holds: every import of every raytl module points to its own layer or a lower one, and no
modules import each other in a cycle.

Layers, lowest first (README "Code layout" shows the same table; `test_readme_table_matches_layers` keeps it so):
base -> config -> tasks -> models -> training -> pipeline -> search -> report -> cli. A module's layer is that of its
first name under `raytl` (`raytl.tasks.formats.mlm` is in `tasks`); a new top-level module fails until it is given
one. Every import counts, wherever it is written: module level, inside functions and methods (the lazy imports that
keep `raytl plan` light), and under `if TYPE_CHECKING:` too, since a type-only import still ties a module to the
names of the one it imports. Only imports written in the code count: importing `raytl.tasks.catalog` also runs
`raytl/tasks/__init__.py`, but that is the package's own import, checked where it is written.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("", "errors", "credentials")),  # "" is raytl/__init__.py; shared by every layer, imports no raytl
    ("config", ("config",)),
    ("tasks", ("tasks",)),
    ("models", ("models",)),
    ("training", ("training",)),
    ("pipeline", ("pipeline",)),
    ("search", ("search",)),
    ("report", ("report",)),
    ("cli", ("cli", "__main__")),
)


@dataclass(frozen=True)
class Import:
    """`source` imports `target` (both dotted module names) at `path`:`line` (`path` from the package's parent)."""

    source: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package at `root` (the directory named `package`) by its dotted name, with its path
    from `root`'s parent (`raytl/tasks/catalog.py`)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.relative_to(root.parent)
    return names


def imports(root: Path, modules: Mapping[str, Path], package: str) -> Iterator[Import]:
    """Every import of a module of `package` written anywhere in `modules` (function bodies included)."""
    for source, path in modules.items():
        here = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node in ast.walk(ast.parse((root.parent / path).read_text(), filename=str(path))):
            for target in _targets(node, here, modules):
                if target == package or target.startswith(package + "."):
                    yield Import(source, target, path, node.lineno)


def _targets(node: ast.AST, here: str, modules: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: `from . import x`, `from ..m import y`
        anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    # `from pkg import name` imports the submodule pkg.name when there is one, else a name of pkg itself
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def layer_of(module: str, layers: Sequence[tuple[str, tuple[str, ...]]]) -> int | None:
    """The rank of `module`'s layer (0 = lowest), from its first name under the package; None when it has none."""
    head = module.split(".")[1] if "." in module else ""
    return next((rank for rank, (_, heads) in enumerate(layers) if head in heads), None)


def layering_problems(root: Path, package: str, layers: Sequence[tuple[str, tuple[str, ...]]]) -> list[str]:
    """One line per module without a layer, per import of no module (a stale lazy import), per upward import and
    per import cycle."""
    modules = module_names(root, package)
    edges = [edge for edge in imports(root, modules, package) if edge.target != edge.source]
    problems = [f"{modules[m]}: {m} has no layer; add its first name to LAYERS and the README's code layout table"
                for m in modules if layer_of(m, layers) is None]
    problems += [f"{edge.where()}: {edge.source} imports {edge.target}, which is no module of {package}"
                 for edge in edges if edge.target not in modules]
    names = [name for name, _ in layers]
    for edge in edges:
        low, high = layer_of(edge.source, layers), layer_of(edge.target, layers)
        if low is not None and high is not None and high > low:
            problems.append(f"{edge.where()}: {edge.source} ({names[low]}) imports {edge.target} ({names[high]}), "
                            "a higher layer")
    return problems + _cycles(edges)


def _cycles(edges: Sequence[Import]) -> list[str]:
    """Every import cycle, one line each with the file and line of each import in it. graphlib finds one cycle at a
    time; cutting its last import and sorting again finds the next, until the graph sorts."""
    first: dict[tuple[str, str], Import] = {}
    for edge in edges:
        first.setdefault((edge.source, edge.target), edge)
    found = []
    while True:
        graph: dict[str, set[str]] = {}
        for source, target in first:
            graph.setdefault(source, set()).add(target)
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return found
        except graphlib.CycleError as exc:
            cycle = exc.args[1][::-1]  # graphlib lists predecessors first: reversed, each module imports the next
            pairs = list(zip(cycle, cycle[1:], strict=False))
            steps = [f"{first[pair].where()} {pair[0]} -> {pair[1]}" for pair in pairs]
            found.append(f"import cycle {' -> '.join(cycle)}: " + "; ".join(steps))
            del first[pairs[-1]]


def test_raytl_layering_holds() -> None:
    problems = layering_problems(ROOT / "raytl", "raytl", LAYERS)
    assert not problems, "\n".join(problems)


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for name, text in {"__init__.py": "", **files}.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    return tmp_path / "pkg"


TOY_LAYERS = (("base", ("", "errors")), ("low", ("low",)), ("high", ("high",)))


def test_clean_toy_package_passes(tmp_path: Path) -> None:
    root = _package(tmp_path, {"errors.py": "", "low/__init__.py": "from . import a\n",
                               "low/a.py": "from pkg.errors import X\nfrom .. import errors\n",
                               "high.py": "import pkg.low.a\nfrom pkg.low import a\n"})
    assert layering_problems(root, "pkg", TOY_LAYERS) == []


def test_upward_import_inside_a_function_fails_naming_both_modules_and_line(tmp_path: Path) -> None:
    root = _package(tmp_path, {"high.py": "", "low.py": "import os\n\n\ndef f():\n    from pkg import high\n"})
    problems = layering_problems(root, "pkg", TOY_LAYERS)
    assert problems == ["pkg/low.py:5: pkg.low (low) imports pkg.high (high), a higher layer"]


def test_relative_upward_import_in_a_method_fails(tmp_path: Path) -> None:
    body = "class C:\n    def m(self):\n        from ..high import thing\n"
    root = _package(tmp_path, {"high.py": "thing = 1\n", "low/__init__.py": "", "low/b.py": body})
    problems = layering_problems(root, "pkg", TOY_LAYERS)
    assert problems == ["pkg/low/b.py:3: pkg.low.b (low) imports pkg.high (high), a higher layer"]


def test_cycle_within_a_layer_fails_with_its_lines(tmp_path: Path) -> None:
    root = _package(tmp_path, {"low/__init__.py": "", "low/a.py": "from pkg.low.b import y\nx = 1\n",
                               "low/b.py": "y = 2\n\n\ndef g():\n    from pkg.low import a\n"})
    [problem] = layering_problems(root, "pkg", TOY_LAYERS)
    assert problem.startswith("import cycle ") and "pkg.low.a" in problem and "pkg.low.b" in problem
    assert "pkg/low/a.py:1 pkg.low.a -> pkg.low.b" in problem
    assert "pkg/low/b.py:5 pkg.low.b -> pkg.low.a" in problem


def test_every_cycle_is_reported(tmp_path: Path) -> None:
    root = _package(tmp_path, {"low/__init__.py": "", "low/a.py": "from . import b\n", "low/b.py": "from . import a\n",
                               "high/__init__.py": "", "high/c.py": "import pkg.high.d\n",
                               "high/d.py": "def f():\n    import pkg.high.c\n"})
    problems = layering_problems(root, "pkg", TOY_LAYERS)
    assert len(problems) == 2 and all(problem.startswith("import cycle ") for problem in problems)
    assert {"pkg/high/d.py:2 pkg.high.d -> pkg.high.c", "pkg/low/b.py:1 pkg.low.b -> pkg.low.a"} <= {
        step.split(": ", 1)[-1] for problem in problems for step in problem.split("; ")}


def test_import_of_a_moved_module_inside_a_function_fails(tmp_path: Path) -> None:
    root = _package(tmp_path, {"low.py": "def f():\n    from pkg.gone import thing\n"})
    assert layering_problems(root, "pkg", TOY_LAYERS) == ["pkg/low.py:2: pkg.low imports pkg.gone, which is no module "
                                                          "of pkg"]


def test_module_without_a_layer_fails(tmp_path: Path) -> None:
    root = _package(tmp_path, {"stray.py": "from pkg import errors\n", "errors.py": ""})
    [problem] = layering_problems(root, "pkg", TOY_LAYERS)
    assert problem.startswith("pkg/stray.py: pkg.stray has no layer")


def test_readme_table_matches_layers() -> None:
    text = (ROOT / "docs" / "readme" / "overview.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, flags=re.MULTILINE))  # layer -> modules column
    for name, heads in LAYERS:
        written = set(re.findall(r"`(raytl[\w./]*)`", rows.get(name, "")))
        expected = {"raytl/__init__.py" if not head else f"raytl/{head}" + ("/" if (ROOT / "raytl" / head).is_dir()
                    else ".py") for head in heads}
        assert written == expected, f"README layer table row `{name}`: {sorted(written)} != {sorted(expected)}"
