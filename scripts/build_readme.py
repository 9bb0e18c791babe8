"""Write the front page: docs/index.md (the docs site's home) with its command table generated from the CLI, and
README.md, the same text with its links made relative to the repository root (so they work on GitHub).

Edit docs/index.md (the text between the generated-table markers is replaced), then run
`python -m scripts.build_readme` from the repository root; tests/test_readme.py checks both files are current.
"""

from __future__ import annotations

import re
from pathlib import Path

from scripts.reference_cli import commands_table

ROOT = Path(__file__).resolve().parents[1]
FRONT_PAGE = ROOT / "docs" / "index.md"
BEGIN = "<!-- BEGIN generated commands table: python -m scripts.build_readme -->"
END = "<!-- END generated commands table -->"
README_NOTE = "<!-- Generated from docs/index.md by `python -m scripts.build_readme`: edit that file, not README. -->\n"
MAX_README_LINES = 150
RELATIVE_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)")  # not a URL, an anchor or an absolute path


def front_page(text: str | None = None) -> str:
    """docs/index.md with its command table regenerated (links relative to docs/)."""
    text = FRONT_PAGE.read_text() if text is None else text
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise ValueError(f"{FRONT_PAGE.relative_to(ROOT)}: the markers {BEGIN} and {END} are missing")
    return f"{head}{BEGIN}\n{commands_table('reference/cli.md')}{END}{tail}"


def readme(front: str | None = None) -> str:
    """README.md: the front page with its first comment replaced by a pointer to its source, links from the root."""
    front = front_page() if front is None else front
    body = front.split("-->\n", 1)[1] if front.startswith("<!--") else front
    return README_NOTE + RELATIVE_LINK.sub(lambda match: f"](docs/{match.group(1)})", body)


if __name__ == "__main__":
    page = front_page()
    FRONT_PAGE.write_text(page)
    (ROOT / "README.md").write_text(readme(page))
