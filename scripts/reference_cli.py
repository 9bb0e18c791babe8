"""docs/reference/cli.md and the README's command table, read from the typer app in raytl/cli.py.

Commands, arguments and options come from the click command typer builds (`typer.main.get_command`), so the
names, defaults and help are what `raytl COMMAND --help` shows; a parameter's type comes from the function's
annotation, which typer reads too.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main

from raytl.cli import app
from scripts.markdown_text import anchor, paragraphs, table

TYPE_NAMES = {str: "text", Path: "path", int: "integer", float: "number", bool: "flag"}


@dataclass(frozen=True)
class Command:
    """One `raytl` command: its words (`raytl store ls`), the click command and whether it is a group."""

    words: str
    command: Any

    @property
    def is_group(self) -> bool:
        return hasattr(self.command, "commands")

    @property
    def help(self) -> list[str]:
        return paragraphs(self.command.help or "")

    def summary(self) -> str:
        """The help's first paragraph without its trailing example (`: \\`raytl search SPACE.yaml\\`.`)."""
        first = self.help[0] if self.help else ""
        return re.sub(r"[:,]?\s*\(?`raytl [^`]*`\)?\.?$", ".", first)

    def usage(self) -> str:
        """`raytl rerun RUN_DIR --trial TRIAL --seeds SEEDS [OPTIONS]`: arguments and required options."""
        if self.is_group:
            return f"{self.words} COMMAND"
        words = [self.words]
        for param in self.command.params:
            name = param.name.upper()
            if param.param_type_name == "argument":
                words.append(name if param.required else f"[{name}]")
            elif param.required:
                words.append(f"{param.opts[0]} {name}")
        optional = [p for p in self.command.params if p.param_type_name == "option" and not p.required]
        return " ".join(words + (["[OPTIONS]"] if optional else []))


def commands(group: Any = None, words: str = "raytl") -> Iterator[Command]:
    """Every command of the app, a group before its subcommands, in the order they are registered."""
    group = typer.main.get_command(app) if group is None else group
    for name, command in group.commands.items():
        found = Command(f"{words} {name}", command)
        yield found
        if found.is_group:
            yield from commands(command, found.words)


def _type(command: Command, param: Any) -> str:
    hints = typing.get_type_hints(command.command.callback)
    kinds = [arg for arg in typing.get_args(hints[param.name]) if arg is not type(None)] or [hints[param.name]]
    kind = typing.get_args(kinds[0])[0] if typing.get_origin(kinds[0]) is list else kinds[0]
    text = TYPE_NAMES.get(kind, getattr(kind, "__name__", str(kind)))
    return f"{text}, repeatable" if param.multiple else text


def _default(param: Any) -> str:
    if param.required:
        return "required"
    if param.default is False:
        return "off"
    if param.default is None:
        return ""
    return f"`{param.default}`"


def _parameters(command: Command) -> str:
    rows = []
    for param in command.command.params:
        name = param.name.upper() if param.param_type_name == "argument" else ", ".join(param.opts)
        rows.append([f"`{name}`", _type(command, param), _default(param), param.help or ""])
    return table(["argument or option", "type", "default", "help"], rows) if rows else ""


def _section(command: Command) -> str:
    parts = [f"## {command.words}", f"`{command.usage()}`", *command.help]
    if command.is_group:
        parts.append(table(["command", "what it does"], [[link(sub), sub.summary()] for sub in commands(
            command.command, command.words)]))
    else:
        parts.append(_parameters(command))
    return "\n\n".join(part.rstrip("\n") for part in parts if part) + "\n"


def link(command: Command, page: str = "") -> str:
    """A link to a command's section of the CLI page (`page` is the page's path from the linking file)."""
    return f"[`{command.usage()}`]({page}#{anchor(command.words)})"


def commands_table(page: str) -> str:
    """Every command in one table (the README's and the home page's), linked to the CLI page at `page`."""
    rows = [[link(command, page), command.summary()] for command in commands() if not command.is_group]
    return table(["command", "what it does"], rows)


def page() -> str:
    """The whole of docs/reference/cli.md."""
    top = paragraphs(typer.main.get_command(app).help or "")
    return (
        "<!-- Generated from raytl/cli.py by `python -m scripts.gen_reference`; do not edit by hand. -->\n"
        "# Commands\n\n" + "\n\n".join(top) + " `raytl COMMAND --help` prints the same help. A usage mistake "
        "exits with status 2 and the CLI's usage message; bad input found by raytl (a search-space file, a run "
        "directory) exits with status 2 and one line naming the file, the key and what is allowed.\n\n"
        + commands_table("") + "\n" + "\n".join(_section(command) for command in commands())
    )
