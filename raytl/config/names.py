"""Names in a search-space file: the baseline's intermediate task, hub model names, and the check of names
against a registry the caller passes in (so this package imports no registry)."""

from __future__ import annotations

import re
from collections.abc import Iterable

NO_INTERMEDIATE = "none"
HUB_PREFIX = "hub:"  # any Hugging Face encoder by hub id or local model directory (see raytl/models/zoo.py)
HUB_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")  # a branch, tag, commit or refs/pr/N of a hub repository


def check_names(names: list[str], allowed: Iterable[str] | None, what: str) -> list[str]:
    """`names` unchanged; ValueError on a duplicate, or on a name not in `allowed` (None: any name)."""
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {what} names in {names}")
    if allowed is not None:
        allowed = list(allowed)
        for name in names:
            if name not in allowed:
                raise ValueError(f"unknown {what} '{name}'; allowed: {', '.join(allowed)}")
    return names


def split_hub_name(name: str) -> tuple[str, str | None]:
    """`hub:<owner/name>[@<revision>]` or `hub:<model directory>` -> (hub id or directory, revision or None).

    A directory (a path starting with `/`, `.` or `~`) takes no revision, so an `@` in its path is kept. Raises
    ValueError naming what is allowed when the revision is empty or not a branch, tag or commit.

    >>> split_hub_name("hub:facebook/xlm-roberta-xxl@refs/pr/7"), split_hub_name("hub:/models/m@v2")
    (('facebook/xlm-roberta-xxl', 'refs/pr/7'), ('/models/m@v2', None))
    """
    source = name.removeprefix(HUB_PREFIX)
    if source.startswith(("/", ".", "~")) or "@" not in source:
        return source, None
    hub_id, _, revision = source.rpartition("@")
    if not hub_id or not HUB_REVISION.fullmatch(revision) or ".." in revision:
        raise ValueError(f"'{name}' is not a hub model name; allowed: {HUB_PREFIX}<owner/name>@<branch, tag or "
                         f"commit> (e.g. {HUB_PREFIX}facebook/xlm-roberta-xxl@main), {HUB_PREFIX}<owner/name> or "
                         f"{HUB_PREFIX}<model directory>")
    return hub_id, revision
