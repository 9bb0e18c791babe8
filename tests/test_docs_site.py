"""The docs site builds with `mkdocs build --strict` (a broken link or anchor fails it), and its reference pages are
the ones the code generates now (docs/reference/: search-space keys, commands, tasks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from raytl.cli import app
from raytl.config import SearchSpace
from scripts.gen_reference import pages
from scripts.markdown_text import anchor, cell
from tests.conftest import ROOT

REGENERATE = "stale generated page; run: python -m scripts.gen_reference"


def test_strict_build_has_no_warning(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2.0 is no build warning
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed (pip install -e '.[test]' installs mkdocs):\n{out}"
    assert not [line for line in out.splitlines() if "WARNING" in line], out
    assert (tmp_path / "site" / "reference" / "keys" / "index.html").is_file()


@pytest.mark.parametrize("path", sorted(pages()), ids=lambda path: path.name)
def test_reference_page_is_current(path: Path) -> None:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing; run: python -m scripts.gen_reference"
    assert path.read_text() == pages()[path], f"{path.relative_to(ROOT)}: {REGENERATE}"


def _key_tables(text: str) -> dict[str, set[str]]:
    """Section heading -> the keys its table lists (first column)."""
    tables: dict[str, set[str]] = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = section.partition("\n")
        tables[heading] = set(re.findall(r"^\| `(\w+)` \|", body, flags=re.MULTILINE))
    return tables


def test_keys_page_has_every_key_of_every_model() -> None:
    """Checked against pydantic's JSON schema of SearchSpace, an enumeration independent of the page's walk."""
    schema = SearchSpace.model_json_schema()
    models = {"SearchSpace": schema, **schema["$defs"]}
    tables = _key_tables((ROOT / "docs" / "reference" / "keys.md").read_text())
    for name, model in models.items():
        if "properties" not in model:
            continue
        keys = set(model["properties"])
        assert keys in tables.values(), f"{name}: no section of keys.md lists exactly {sorted(keys)}; {REGENERATE}"


def test_every_key_has_a_description() -> None:
    schema = SearchSpace.model_json_schema()
    models = {"SearchSpace": schema, **schema["$defs"]}
    missing = [f"{name}.{key}" for name, model in models.items() for key, prop in model.get("properties", {}).items()
               if not prop.get("description")]
    assert not missing, f"add Field(description=...) to: {', '.join(missing)} (it becomes docs/reference/keys.md)"


def test_keys_page_lists_what_the_hand_written_table_missed() -> None:
    text = (ROOT / "docs" / "reference" / "keys.md").read_text()
    rows = {row.split(" | ")[0].strip("| `"): row for row in text.splitlines() if row.startswith("| `")}
    assert "`optuna`, `random`, `grid`" in rows["algorithm"]
    assert {"scheduler (type: asha)", "scheduler (type: hyperband)", "scheduler (type: none)"} <= set(
        _key_tables(text))
    for key in ("micro_batch_size", "checkpoint_minutes", "gpu_memory_gb", "worker_startup_timeout_s"):
        assert key in rows, key


def _commands(group=None, words: str = "raytl"):  # noqa: ANN001, ANN202 (click objects)
    group = typer.main.get_command(app) if group is None else group
    for name, command in group.commands.items():
        yield f"{words} {name}", command
        if hasattr(command, "commands"):
            yield from _commands(command, f"{words} {name}")


def test_cli_page_has_every_command_and_option() -> None:
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for words, command in _commands():
        assert f"\n## {words}\n" in text, f"{words}: {REGENERATE}"
        section = text.split(f"\n## {words}\n", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            name = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"`{name}`" in section, f"{words} {name}: {REGENERATE}"


def test_anchors_are_those_python_markdown_gives() -> None:
    from markdown.extensions.toc import slugify

    headings = [line[3:] for page in pages().values() for line in page.splitlines() if line.startswith("## ")]
    assert len(headings) > 20
    for heading in headings:
        assert anchor(heading) == slugify(heading, "-"), heading


def test_cell_escapes_pipes_and_tags_outside_code() -> None:
    assert cell("a | b <id>\n  `x <y>`") == "a \\| b &lt;id&gt; `x <y>`"
