"""Reading a search-space file: YAML -> `SearchSpace`, or one `InputError` line naming the file, the key path as
the user wrote it, and what is allowed (pydantic's error, located by walking the models along its path)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, ValidationError

from raytl.config.space import SearchSpace
from raytl.credentials import ADVICE as SECRETS_ADVICE
from raytl.credentials import find_secret
from raytl.errors import InputError


def load_space(path: str | Path, **allowed: Iterable[str] | Mapping[str, Iterable[str]]) -> SearchSpace:
    """Read and validate a search-space YAML; raise one-line `InputError` naming file, key path and what is allowed.

    `allowed` may name `models`, `intermediate_tasks` and `targets` (lists of known names), and `task_sources`
    (task name -> the data sources it has, `Task.data_sources()`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise InputError(f"{path}: the file is {kind}; allowed: a mapping with keys {', '.join(_top_keys())}")
    return parse_space(data, source=str(path), **allowed)


def parse_space(data: dict[str, Any], source: str = "<space>",
                **allowed: Iterable[str] | Mapping[str, Iterable[str]]) -> SearchSpace:
    """Validate an already-parsed mapping (see `load_space`); anything that looks like a secret is refused."""
    secret = find_secret(data)
    if secret:
        raise InputError(f"{source}: {secret}; {SECRETS_ADVICE}")
    context = {key: {name: list(items) for name, items in value.items()} if isinstance(value, Mapping)
               else list(value) for key, value in allowed.items()}
    try:
        return SearchSpace.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(f"{source}: {_describe(exc.errors()[0])}") from None


def _describe(error: dict[str, Any]) -> str:
    loc = error["loc"]
    shown, _, _ = _walk(loc)
    key = ".".join(shown) or "<top>"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: {_unknown_key(loc)}"
    if error["type"] == "variant":  # a discriminated union's tag is not one of its variants
        ctx, given = error["ctx"], error["input"]
        if isinstance(given, dict):
            return f"{key}.{ctx['key']}: unknown {ctx['key']} '{given[ctx['key']]}'; allowed: {ctx['tags']}"
        return f"{key}: not a mapping; {message}"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {message}" if loc else message  # cross-key checks name their keys themselves


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """Why the last key of `loc` is refused: unknown, or belonging to another variant of a union."""
    name = str(loc[-1])
    _, parent, variant = _walk(loc[:-1])
    if parent is None:
        return "unknown key; allowed: the keys in docs/reference/keys.md"
    allowed = ", ".join(parent.model_fields)
    if variant is None:
        return f"unknown key; allowed: {allowed}"
    key, tag, members = variant
    owners = [other for other, model in members.items() if name in model.model_fields]
    if not owners:
        return f"unknown key for {key}: {tag}; allowed: {allowed}"
    return f"not a setting of {key}: {tag}; allowed: {allowed} ({name} is for {key}: {' or '.join(owners)})"


Variant = tuple[str, str, dict[str, type[BaseModel]]]  # (discriminator key, chosen tag, tag -> model)


def _walk(loc: tuple[Any, ...]) -> tuple[list[str], type[BaseModel] | None, Variant | None]:
    """Follow an error location from SearchSpace: the key path as the user wrote it (pydantic's union tags left
    out), the model it ends on (None where it leaves the models) and the union variant chosen last, if any."""
    shown: list[str] = []
    here: Any = SearchSpace
    variant: Variant | None = None
    for part in loc:
        here, union = _unwrap(here)
        if union is not None:  # pydantic puts the chosen variant's tag in the location
            key, members = union
            here, variant = members.get(str(part)), (key, str(part), members)
            continue
        shown.append(str(part))
        variant = None
        if isinstance(here, type) and issubclass(here, BaseModel):
            field = here.model_fields.get(str(part))
            here = Annotated[(field.annotation, *field.metadata)] if field and field.metadata else getattr(
                field, "annotation", None)
        else:
            here = get_args(here)[-1] if get_origin(here) in (dict, list) else None
    here, _ = _unwrap(here)
    return shown, here if isinstance(here, type) and issubclass(here, BaseModel) else None, variant


def _unwrap(annotation: Any) -> tuple[Any, tuple[str, dict[str, type[BaseModel]]] | None]:
    """`X | None` -> X; a discriminated union -> (None, (its key, tag -> model)); anything else as it is."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *more = get_args(annotation)
        metadata += more
    if get_origin(annotation) not in (Union, UnionType):
        return annotation, None
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    tagger = next((m for m in metadata if isinstance(m, Discriminator)), None)
    if tagger is None:
        return _unwrap(members[0]) if len(members) == 1 else (None, None)
    tags = {tag.tag: get_args(member)[0] for member in members for tag in get_args(member)[1:] if isinstance(tag, Tag)}
    return None, ((tagger.custom_error_context or {})["key"], tags)


def _top_keys() -> list[str]:
    return list(SearchSpace.model_fields)
