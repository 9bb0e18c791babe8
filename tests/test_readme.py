"""README.md is the front page (docs/index.md) with links from the repository root: both must be current, short,
list every command of the CLI, link to files that exist, and name set-up commands that exist."""

from __future__ import annotations

import re

import typer.main

from raytl.cli import app
from scripts import build_readme
from tests.conftest import ROOT

REBUILD = "run: python -m scripts.build_readme (after editing docs/index.md, never README.md)"


def test_front_page_and_readme_are_current() -> None:
    front = build_readme.front_page()
    assert (ROOT / "docs" / "index.md").read_text() == front, f"docs/index.md's command table is stale; {REBUILD}"
    assert (ROOT / "README.md").read_text() == build_readme.readme(front), f"README.md is stale; {REBUILD}"


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= build_readme.MAX_README_LINES, f"README.md has {len(lines)} lines; the guides are in docs/"


def _leaf_commands(group=None, words: str = "raytl") -> list[str]:  # noqa: ANN001 (a click group)
    group = typer.main.get_command(app) if group is None else group
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _leaf_commands(command, f"{words} {name}")
        else:
            found.append(f"{words} {name}")
    return found


def test_readme_table_lists_every_command() -> None:
    text = (ROOT / "README.md").read_text()
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| \[`(raytl [a-z]+(?: [a-z]+)?)", table, flags=re.MULTILINE)
    commands = _leaf_commands()
    assert {"raytl rank", "raytl rerun", "raytl simulate", "raytl store ls", "raytl export", "raytl plan"} <= set(
        commands)
    assert sorted(listed) == sorted(commands), REBUILD


def test_readme_links_point_to_files() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z][a-z0-9+.-]*:|#", link)]
    assert local, "the README links into docs/"
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_links_are_made_relative_to_the_root() -> None:
    front = "<!-- note -->\n[a](readme/x.md#y) [b](https://x.org/a.md) [c](#here) [d](/abs.md)\n"
    assert build_readme.readme(front) == build_readme.README_NOTE + (
        "[a](docs/readme/x.md#y) [b](https://x.org/a.md) [c](#here) [d](/abs.md)\n")


def test_readme_setup_commands_exist() -> None:
    text = (ROOT / "README.md").read_text()
    for script in ("scripts/quickstart.sh", "scripts/test.sh"):
        assert f"bash {script}" in text and (ROOT / script).is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
