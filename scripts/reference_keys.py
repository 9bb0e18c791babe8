"""docs/reference/keys.md: every key of the search-space file, read from the pydantic models in raytl/config/.

The models are walked from `SearchSpace`: a field whose type is a model (or a map of models, or a tagged union of
models) gets a section of its own; a model met at several places (the `intermediate` and `target` phases) is
described once, with every place listed. Nothing here names a key: a key added to a model appears on the page.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from raytl.config import RENAMED_KEYS, SearchSpace
from scripts.markdown_text import anchor, paragraphs, table

# how a map's keys are written in a key path (`mixtures.NAME.tasks`); any other map: NAME
MAP_KEYS = {"target_overrides": "TARGET", "lr_by_model": "MODEL", "sources": "TASK"}
BOUNDS = {annotated_types.Gt: ("gt", "> {}"), annotated_types.Ge: ("ge", ">= {}"), annotated_types.Lt: ("lt", "< {}"),
          annotated_types.Le: ("le", "<= {}"), annotated_types.MinLen: ("min_length", "length >= {}")}
SIMPLE_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", Path: "path", Any: "any"}


@dataclass
class Section:
    """One model of the file and every key path where it is written ("" = the top level)."""

    model: type[BaseModel]
    variant: str | None  # "type: asha" for a member of a tagged union
    paths: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        if self.paths == [""]:
            return "Top level"
        tails = dict.fromkeys(_tail(path) for path in self.paths)
        return ", ".join(tails) + (f" ({self.variant})" if self.variant else "")


def _tail(path: str) -> str:
    """The last key of a path, with the map key it sits under (`mixtures.NAME`, `lr_by_model.MODEL`)."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if parts[-1].isupper() else parts[-1]


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """`Annotated[T, ...]` -> (T, its metadata); anything else unchanged."""
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return inner, metadata
    return annotation, []


def _members(annotation: Any) -> list[Any]:
    """The members of a union (`X | None` included), None left out; a non-union is its own only member."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [arg for arg in get_args(annotation) if arg is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag(model: type[BaseModel]) -> str | None:
    """`type: asha` for a union member: its field whose type is a single-value Literal."""
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1:
            return f"{name}: {get_args(info.annotation)[0]}"
    return None


def _nested(annotation: Any, path: str) -> list[tuple[type[BaseModel], str, str | None]]:
    """The models written under the key at `path`: (model, its path, its variant tag)."""
    members = [_unwrap(member)[0] for member in _members(_unwrap(annotation)[0])]
    models = [member for member in members if _is_model(member)]
    if len(models) > 1:
        return [(model, path, _tag(model)) for model in models]
    if models:
        return [(models[0], path, None)]
    maps = [member for member in members if get_origin(member) is dict]
    name = MAP_KEYS.get(path.rpartition(".")[2], "NAME")
    return [found for member in maps for found in _nested(get_args(member)[1], f"{path}.{name}")]


def sections(root: type[BaseModel] = SearchSpace) -> list[Section]:
    """Every model reachable from `root`, in the order first met, each with all its key paths."""
    found: dict[type[BaseModel], Section] = {}

    def visit(model: type[BaseModel], path: str, variant: str | None) -> None:
        section = found.setdefault(model, Section(model, variant))
        if path not in section.paths:
            section.paths.append(path)
        for name, info in model.model_fields.items():
            for sub, sub_path, sub_variant in _nested(info.annotation, f"{path}.{name}" if path else name):
                visit(sub, sub_path, sub_variant)

    visit(root, "", None)
    return list(found.values())


def _type_text(annotation: Any, links: dict[type[BaseModel], str]) -> str:
    annotation, _ = _unwrap(annotation)
    members = [_unwrap(member)[0] for member in _members(annotation)]
    nullable = len(members) < len(get_args(annotation)) if get_origin(annotation) in (Union, types.UnionType) else False
    if any(_is_model(member) for member in members):
        text = "mapping: " + " or ".join(links[m] for m in members if _is_model(m))
    elif len(members) > 1:
        text = " or ".join(_type_text(member, links) for member in members)
    else:
        text = _one_type(members[0], links)
    return f"{text}, or null" if nullable else text


def _one_type(annotation: Any, links: dict[type[BaseModel], str]) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        kinds = dict.fromkeys(SIMPLE_TYPES.get(type(value), "value") for value in get_args(annotation))
        return " or ".join(kinds)
    if origin is list:
        return f"list of {_type_text(get_args(annotation)[0], links)}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type_text(key, links)} to {_type_text(value, links)}"
    return SIMPLE_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(info: FieldInfo) -> list[str]:
    """Allowed values: a Literal's values, numeric bounds, lengths and patterns (field's and type's metadata)."""
    annotation, metadata = _unwrap(info.annotation)
    members = [_unwrap(member) for member in _members(annotation)]
    metadata = [*info.metadata, *metadata, *(item for _, inner in members for item in inner)]
    allowed = [", ".join(f"`{_value(v)}`" for v in get_args(m)) for m, _ in members if get_origin(m) is Literal]
    for item in metadata:
        for kind, (attribute, text) in BOUNDS.items():
            if isinstance(item, kind):
                allowed.append(text.format(_value(getattr(item, attribute))))
        if getattr(item, "pattern", None):
            allowed.append(f"matches `{item.pattern}`")
    return allowed


def _value(value: Any) -> str:
    """A value as it is written in the YAML file."""
    if isinstance(value, Path):
        return str(value)
    return value if isinstance(value, str) else json.dumps(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default
    if isinstance(value, BaseModel):
        tag = _tag(type(value))
        return f"`{tag}`, its keys' defaults" if tag else "its keys' defaults"
    return f"`{_value(value)}`"


def _rows(section: Section, links: dict[type[BaseModel], str]) -> list[list[str]]:
    return [[f"`{name}`", _type_text(info.annotation, links), _default(info), "; ".join(_constraints(info)),
             info.description or ""] for name, info in section.model.model_fields.items()]


def _section_text(section: Section, links: dict[type[BaseModel], str]) -> str:
    where = "" if section.paths == [""] else "Written at " + ", ".join(f"`{p}`" for p in section.paths) + ". "
    doc = paragraphs(section.model.__doc__ or "")
    header = ["key", "type", "default", "allowed", "description"]
    return f"## {section.title}\n\n{where}{doc[0] if doc else ''}\n\n{table(header, _rows(section, links))}"


def page() -> str:
    """The whole of docs/reference/keys.md."""
    found = sections()
    links = {s.model: f"[{s.title}](#{anchor(s.title)})" for s in found}
    renamed = table(["key", "what to write instead"], [[f"`{key}`", hint] for key, hint in RENAMED_KEYS.items()])
    return (
        "<!-- Generated from raytl/config/*.py by `python -m scripts.gen_reference`; do not edit by hand. -->\n"
        "# Search-space keys\n\n"
        "Every key of a search-space file (`raytl plan SPACE.yaml` checks one without starting Ray), generated "
        "from the pydantic models in `raytl/config/`. Every section refuses a key it does not list, naming what "
        "it allows; a tagged section (`scheduler`, a mixture) refuses a key of another variant, naming the "
        "variant that takes it. \"null\" is YAML's `null` (or the key left out).\n\n"
        + "\n".join(_section_text(section, links) for section in found)
        + "\n## Renamed and removed keys\n\nRefused with this hint, never reinterpreted:\n\n" + renamed
    )
