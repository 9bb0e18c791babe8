"""The search-space file: one pydantic model, validated once at the CLI edge.

Everything behind the edge receives a typed `SearchSpace`, never a raw dict. Names of tasks and models are checked
against the registries the caller passes in the validation context, so this module imports nothing heavy and a
bad file fails in milliseconds, before Ray starts.

>>> space = load_space("search_spaces/quickstart.yaml", tasks=TASK_NAMES, models=MODEL_NAMES)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from raytl.errors import InputError

NO_INTERMEDIATE = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogRange(_Strict):
    """A log-uniform range, e.g. `{low: 1e-5, high: 1e-4}`."""

    low: PositiveFloat
    high: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> LogRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}); allowed: low <= high")
        return self


class PhaseConfig(_Strict):
    """How one training phase runs; the learning rate is searched inside `lr`."""

    lr: LogRange
    epochs: PositiveFloat | None = Field(None, description="passes over the training set")
    max_steps: PositiveInt | None = Field(None, description="optimizer steps; wins over epochs when both are set")
    batch_size: PositiveInt = Field(32, description="effective (global) batch size")
    max_length: PositiveInt = 128
    eval_every: PositiveInt = Field(100, description="evaluate and checkpoint every N optimizer steps")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: PositiveFloat = 1.0
    max_train_examples: PositiveInt | None = Field(None, description="cap the training set (quick runs)")

    @model_validator(mode="after")
    def _has_length(self) -> PhaseConfig:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("set epochs or max_steps; allowed: a positive number for either")
        return self


class DataConfig(_Strict):
    """Where task data comes from: the hub (clusters), original files in a directory, or generated offline."""

    source: Literal["hub", "local", "generated"] = "hub"
    dir: Path | None = Field(None, description="original file layouts, for source: local")
    generated_train_size: PositiveInt = 2000
    generated_eval_size: PositiveInt = 200
    max_eval_examples: PositiveInt | None = Field(None, description="cap every dev/test set (quick runs)")

    @model_validator(mode="after")
    def _dir_for_local(self) -> DataConfig:
        if self.source == "local" and self.dir is None:
            raise ValueError("source: local needs dir; allowed: a directory with the original files")
        return self


class ResourcesConfig(_Strict):
    """Resources of one trial: its Ray Train workers."""

    num_workers: PositiveInt = 1
    cpus_per_worker: PositiveFloat = 1.0
    gpus_per_worker: float = Field(0.0, ge=0)


class DeepSpeedConfig(_Strict):
    """ZeRO stage, offload and precision; `auto` takes the model zoo entry's default."""

    zero_stage: Literal[0, 1, 2, 3, "auto"] = "auto"
    offload: Literal["none", "cpu", "nvme", "auto"] = "auto"
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"


class SchedulerConfig(_Strict):
    """Multi-fidelity early stopping over target-phase steps (the time attribute survives a resume)."""

    type: Literal["asha", "none"] = "asha"
    grace_period: PositiveInt = Field(1, description="evaluations before a trial may be stopped")
    reduction_factor: float = Field(3.0, gt=1)


class SearchConfig(_Strict):
    """How trials are proposed and how many run."""

    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    num_trials: PositiveInt = 10
    max_concurrent_trials: PositiveInt = 1
    seed: int = 0
    max_failures: int = Field(1, ge=0, description="retries of a failed trial from its last checkpoint")
    storage: str | None = Field(
        None, description="Optuna storage as an SQLAlchemy URL (e.g. postgresql://raytl@db/raytl, password from "
        "PGPASSWORD); default: SQLite in the run directory"
    )
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list)


class SearchSpace(_Strict):
    """One search: what is searched, how each phase trains, and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    storage: str = Field("runs", description="run parent directory or cloud URI (s3://, gs://)")
    models: list[str] = Field(min_length=1)
    intermediate_tasks: list[str] = Field(min_length=1, description=f"task names, '{NO_INTERMEDIATE}' = baseline")
    targets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    intermediate: PhaseConfig
    target: PhaseConfig
    data: DataConfig = DataConfig()
    resources: ResourcesConfig = ResourcesConfig()
    deepspeed: DeepSpeedConfig = DeepSpeedConfig()
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    eval_split: Literal["test", "validation"] = Field(
        "test", description="the split zero-shot scores (and so the objective) come from"
    )

    @field_validator("models")
    @classmethod
    def _known_models(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return _check_names(names, (info.context or {}).get("models"), "model")

    @field_validator("intermediate_tasks")
    @classmethod
    def _known_intermediates(cls, names: list[str], info: ValidationInfo) -> list[str]:
        allowed = (info.context or {}).get("intermediate_tasks")
        return _check_names(names, None if allowed is None else [NO_INTERMEDIATE, *allowed], "intermediate task")

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return _check_names(names, (info.context or {}).get("targets"), "target task")


def _check_names(names: list[str], allowed: Iterable[str] | None, what: str) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {what} names in {names}")
    if allowed is not None:
        allowed = list(allowed)
        for name in names:
            if name not in allowed:
                raise ValueError(f"unknown {what} '{name}'; allowed: {', '.join(allowed)}")
    return names


def load_space(path: str | Path, **allowed: Iterable[str]) -> SearchSpace:
    """Read and validate a search-space YAML; raise one-line `InputError` naming file, key path and what is allowed.

    `allowed` may name `models`, `intermediate_tasks` and `targets` (lists of known names).
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


def parse_space(data: dict[str, Any], source: str = "<space>", **allowed: Iterable[str]) -> SearchSpace:
    """Validate an already-parsed mapping (see `load_space`)."""
    context = {key: list(value) for key, value in allowed.items()}
    try:
        return SearchSpace.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(f"{source}: {_describe(exc.errors()[0])}") from None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "<top>"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        parent = _model_at(error["loc"][:-1])
        allowed = ", ".join(parent.model_fields) if parent else "see the README"
        return f"{key}: unknown key; allowed: {allowed}"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {message}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = SearchSpace
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _top_keys() -> list[str]:
    return list(SearchSpace.model_fields)
