"""What every section of the search-space file is built from: a strict, frozen pydantic model (an unknown key is
an error, never ignored) and the tagged union of sections chosen by one key (`scheduler: {type: ...}`, a mixture's
`sampling`)."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag


class Strict(BaseModel):
    """A section of the file: an unknown key is refused (extra="forbid"), a validated value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def variants(key: str, default: str, *models: type[BaseModel]) -> Any:
    """A discriminated union of `models` on their Literal field `key`; an input without `key` is the `default`
    variant. Each variant forbids extra keys, so a setting given to a variant it does not apply to is refused."""
    tags = [model.model_fields[key].default for model in models]

    def tag(value: Any) -> Any:
        return value.get(key, default) if isinstance(value, dict) else getattr(value, key, None)

    members = tuple(Annotated[model, Tag(name)] for model, name in zip(models, tags, strict=True))
    return Annotated[Union[members], Discriminator(  # noqa: UP007 (a union built from a tuple)
        tag, custom_error_type="variant", custom_error_message=f"allowed: {key}: {' | '.join(tags)}",
        custom_error_context={"key": key, "tags": ", ".join(tags)},
    )]
