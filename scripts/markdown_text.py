"""Small Markdown helpers shared by the generated pages: a table, a safe table cell, a heading's anchor."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence


def cell(text: str) -> str:
    """One table cell: whitespace collapsed, `|` escaped (Markdown tables split on it), `<` and `>` outside code
    spans written as entities (else `<hub id>` would be read as an HTML tag and vanish)."""
    parts = " ".join(str(text).split()).replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;").replace(">", "&gt;") for i, part in enumerate(parts))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with a blank line before and after, so it renders wherever it is placed."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def anchor(heading: str) -> str:
    """The id a heading gets, the same on the site (Python-Markdown's toc) and on GitHub for the plain headings
    these pages use (words, spaces, dots, commas, colons, parentheses).

    >>> anchor("scheduler (type: asha)"), anchor("raytl store ls")
    ('scheduler-type-asha', 'raytl-store-ls')
    """
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def paragraphs(text: str) -> list[str]:
    """A docstring or help text as paragraphs, each on one line (the source's line breaks are only wrapping)."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return [" ".join(block.split()) for block in blocks if block.strip()]
