"""A report as a list of blocks (headings, text, tables, images, code) rendered to Markdown and to HTML.

Building the document once and rendering it twice avoids parsing Markdown back into HTML: the `markdown`
package is not a dependency and pandas' `to_markdown` needs `tabulate`, which is not one either.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

MISSING = "n/a"


@dataclass
class Document:
    """Blocks in order; `to_markdown` and `to_html` render the same content.

    >>> doc = Document("Run r1")
    >>> doc.heading("Status"); doc.text("3 trials.")
    >>> print(doc.to_markdown())
    # Run r1
    <BLANKLINE>
    ## Status
    <BLANKLINE>
    3 trials.
    <BLANKLINE>
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, frame: pd.DataFrame, index: bool = True, digits: int = 2) -> None:
        """Add a table; floats are printed with `digits` decimals, NaN/None as "n/a"."""
        if frame.empty:
            self.blocks.append(("text", "(no rows yet)"))
        else:
            self.blocks.append(("table", _cells(frame, index, digits)))

    def image(self, path: Path, alt: str) -> None:
        """Add a PNG; Markdown links it by file name (it sits next to report.md), HTML embeds it."""
        self.blocks.append(("image", (Path(path), alt)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def to_markdown(self) -> str:
        parts = [f"# {self.title}\n"]
        for kind, content in self.blocks:
            if kind == "heading":
                parts.append(f"## {content}\n")
            elif kind == "text":
                parts.append(f"{content}\n")
            elif kind == "table":
                parts.append(_markdown_table(*content))
            elif kind == "image":
                path, alt = content
                parts.append(f"![{alt}]({path.name})\n")
            else:
                parts.append(f"```\n{str(content).rstrip()}\n```\n")
        return "\n".join(parts)

    def to_html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "heading":
                body.append(f"<h2>{html.escape(str(content))}</h2>")
            elif kind == "text":
                body.append(f"<p>{_inline_html(str(content))}</p>")
            elif kind == "table":
                body.append(_html_table(*content))
            elif kind == "image":
                path, alt = content
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                body.append(f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>')
            else:
                body.append(f"<pre>{html.escape(str(content))}</pre>")
        return _HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}th{{background:#f3f3f3}}
img{{max-width:100%}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head>
<body>
{body}
</body></html>
"""


def format_value(value: object, digits: int = 2) -> str:
    """How a table cell is printed.

    Floats get `digits` decimals (learning rates are formatted by the caller, as strings).

    >>> [format_value(v) for v in (1.23456, float("nan"), None, 3, "mnli")]
    ['1.23', 'n/a', 'n/a', '3', 'mnli']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plus_minus(mean: float, std: float) -> str:
    """A signed mean with its std over seeds, the std left out when unknown (one seed).

    >>> plus_minus(1.5, 0.25), plus_minus(-2.0, float("nan")), plus_minus(float("nan"), 1.0)
    ('+1.50 +- 0.25', '-2.00', 'n/a')
    """
    if pd.isna(mean):
        return MISSING
    return f"{mean:+.2f}" + ("" if pd.isna(std) else f" +- {std:.2f}")


def _cells(frame: pd.DataFrame, index: bool, digits: int) -> tuple[list[str], list[list[str]]]:
    header = ([str(frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    rows = []
    for key, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        values = [format_value(_plain(v), digits) for v in row]
        rows.append(([str(key)] if index else []) + values)
    return header, rows


def _plain(value: object) -> object:
    """numpy scalars to Python ones, so ints print without decimals and floats with them."""
    return value.item() if hasattr(value, "item") else value


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(header), "|" + "|".join("---" for _ in header) + "|"] + [line(r) for r in rows]
    return "\n".join(out) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline_html(text: str) -> str:
    """Escape, then render `code` spans and **bold**, the only inline Markdown the report's text uses."""
    escaped = html.escape(text)
    for marker, tag in (("`", "code"), ("**", "b")):
        pieces = escaped.split(marker)
        escaped = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(pieces))
    return escaped
