"""The search-space file: one pydantic model, validated once at the CLI edge.

Everything behind the edge receives a typed `SearchSpace`, never a raw dict. Names of tasks and models are checked
against the registries the caller passes in the validation context, so this module imports nothing heavy and a
bad file fails in milliseconds, before Ray starts.

>>> phase = {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 10}
>>> space = parse_space({"name": "demo", "models": ["tiny"], "intermediate_tasks": ["none"], "targets": ["xnli"],
...                      "intermediate": phase, "target": phase}, "space.yaml", models=["tiny", "large"])
>>> space.storage, space.target.max_length
('runs', 128)
>>> parse_space({"name": "demo", "models": ["xlmr-huge"]}, "space.yaml", models=["tiny", "large"])
Traceback (most recent call last):
raytl.errors.InputError: space.yaml: models: unknown model 'xlmr-huge'; allowed: tiny, large, hub:...

`load_space(path, ...)` reads and checks a YAML file the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo

from raytl.credentials import ADVICE as SECRETS_ADVICE
from raytl.credentials import find_secret
from raytl.errors import InputError

NO_INTERMEDIATE = "none"
HUB_PREFIX = "hub:"  # any Hugging Face encoder by hub id or local model directory (see raytl/models/zoo.py)
HUB_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")  # a branch, tag, commit or refs/pr/N of a hub repository
RENAMED_KEYS = {  # dotted key paths that changed: refused with the new spelling, never silently reinterpreted
    "eval_split": "removed (it put test scores into the objective); allowed: selection: en_dev (default) or "
    "target_dev. Every decision reads dev data; test is scored once per trial, for the selected checkpoint",
    "search.storage": "renamed; allowed: search.study_storage (the Optuna study's SQLAlchemy URL; the top-level "
    "`storage` is the run parent directory)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _variants(key: str, default: str, *models: type[BaseModel]) -> Any:
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


class LogRange(_Strict):
    """A log-uniform range, e.g. `{low: 1e-5, high: 1e-4}`."""

    low: PositiveFloat
    high: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> LogRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}); allowed: low <= high")
        return self


class Equalise(_Strict):
    """The same amount of intermediate training for every task, so that a task's complexity is not confounded with
    the size of its training set (9,741 to 1,104,934 examples in the catalog). Exactly one key:
    `{examples: N}`: each task trains on a random sample of exactly N of its training examples (per training
    language), drawn with the trial's seed (a task with fewer is an error); `{steps: N}`: each task trains exactly
    N optimizer steps (this sets the phase's `max_steps`, whichever the task's size)."""

    examples: PositiveInt | None = None
    steps: PositiveInt | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Equalise:
        if (self.examples is None) == (self.steps is None):
            raise ValueError("set exactly one key; allowed: {examples: N} or {steps: N}")
        return self


class PhaseConfig(_Strict):
    """How one training phase runs; the learning rate is searched inside `lr`."""

    lr: LogRange
    epochs: PositiveFloat | None = Field(None, description="passes over the training set")
    max_steps: PositiveInt | None = Field(None, description="optimizer steps; wins over epochs when both are set")
    batch_size: PositiveInt = Field(32, description="effective (global) batch size")
    micro_batch_size: PositiveInt | None = Field(
        None, description="rows per GPU per forward/backward; batch_size = micro_batch_size x num_workers x "
        "gradient accumulation steps; default batch_size / num_workers (no accumulation)"
    )
    max_length: PositiveInt = 128
    eval_every: PositiveInt = Field(100, description="evaluate and checkpoint every N optimizer steps")
    checkpoint_minutes: PositiveFloat | None = Field(
        None, description="also evaluate and checkpoint once this much wall time passed since the last checkpoint "
        "(bounds the work a preempted node loses when steps are slow)"
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: PositiveFloat = 1.0
    max_train_examples: PositiveInt | None = Field(None, description="cap the training set (quick runs)")
    lr_by_model: dict[str, LogRange] = Field(
        default_factory=dict, description="a learning-rate range per model size, replacing `lr` for that model"
    )
    equalise: Equalise | None = Field(
        None, description="intermediate phase only: {examples: N} (a seeded sample of N training examples per "
        "task) or {steps: N} (N optimizer steps per task)"
    )

    @model_validator(mode="before")
    @classmethod
    def _equal_steps(cls, data: Any) -> Any:
        """`equalise: {steps: N}` is `max_steps: N` stated as a comparison of tasks; both set must agree."""
        equalise = data.get("equalise") if isinstance(data, dict) else None
        steps = equalise.get("steps") if isinstance(equalise, dict) else getattr(equalise, "steps", None)
        if steps is None or (isinstance(equalise, dict) and equalise.get("examples") is not None):
            return data  # nothing to derive, or a malformed `equalise` its own validation reports
        if data.get("max_steps") not in (None, steps):
            raise ValueError(f"max_steps {data['max_steps']} and equalise.steps {steps} disagree; allowed: set one")
        return {**data, "max_steps": steps}

    @model_validator(mode="after")
    def _has_length(self) -> PhaseConfig:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("set epochs or max_steps; allowed: a positive number for either")
        return self

    @model_validator(mode="after")
    def _one_cap(self) -> PhaseConfig:
        if self.equalise and self.equalise.examples and self.max_train_examples:
            raise ValueError("max_train_examples and equalise.examples both cap the training set; allowed: set one")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_equalise(self, handler: Any) -> dict[str, Any]:
        """Leave `equalise: null` out, so phase ids hashed from a dump stay those of runs made before the key."""
        data = handler(self)
        if self.equalise is None:
            data.pop("equalise", None)
        return data

    def train_sample(self, seed: int) -> tuple[int, int] | None:
        """(N, seed) of `equalise.examples`' seeded sample of the training set, None without one.

        >>> PhaseConfig(lr={"low": 1e-5, "high": 1e-5}, epochs=1, equalise={"examples": 500}).train_sample(3)
        (500, 3)
        """
        return (self.equalise.examples, seed) if self.equalise and self.equalise.examples else None

    def lr_range(self, model: str) -> LogRange:
        """The learning-rate range searched for `model`: its `lr_by_model` entry, else `lr`."""
        return self.lr_by_model.get(model, self.lr)

    def default_lr(self, model: str) -> float:
        """The geometric middle of `lr_range(model)`: the 'default' learning rate of grid and first-pass trials."""
        lr = self.lr_range(model)
        return float((lr.low * lr.high) ** 0.5)


NOT_OVERRIDABLE = frozenset({"equalise"})  # PhaseConfig fields a per-target override may not set


def _optional_fields(model: type[BaseModel], name: str, doc: str, exclude: frozenset[str]) -> type[BaseModel]:
    """`model`'s fields (constraints and descriptions kept, validators not), each optional with default None."""
    fields: dict[str, Any] = {
        field: (info.annotation | None, FieldInfo.merge_field_infos(info, default=None, default_factory=None))
        for field, info in model.model_fields.items() if field not in exclude
    }
    return create_model(name, __base__=_Strict, __doc__=doc, __module__=__name__, **fields)


PhaseOverride = _optional_fields(
    PhaseConfig, "PhaseOverride", "Per-target changes to the `target` phase, e.g. `{lr: {low: 3e-5, high: 3e-5}, "
    "epochs: 2, max_length: 384}`: any `PhaseConfig` field but those in NOT_OVERRIDABLE.", NOT_OVERRIDABLE,
)


DataSource = Literal["hub", "local", "generated"]


class DataConfig(_Strict):
    """Where task data comes from: the hub (clusters), original files in a directory, or generated offline;
    `source` for every task, `sources` per task, e.g. `{source: hub, sources: {bucc2018: local}, dir: /data/xtreme}`.

    >>> DataConfig(source="hub", sources={"ccg": "local"}, dir="/data").source_for("ccg")
    'local'
    """

    source: DataSource = Field("hub", description="the source of every task not named in sources")
    sources: dict[str, DataSource] = Field(
        default_factory=dict, description="per-task sources overriding `source`, e.g. {bucc2018: local, ccg: local}"
    )
    dir: Path | None = Field(None, description="original file layouts, for every task read local")
    generated_train_size: PositiveInt = 2000
    generated_eval_size: PositiveInt = 200
    max_eval_examples: PositiveInt | None = Field(None, description="cap every dev/test set (quick runs)")

    def source_for(self, task: str) -> DataSource:
        """The source that serves `task`: its `sources` entry, else `source`."""
        return self.sources.get(task, self.source)

    @model_serializer(mode="wrap")
    def _without_empty_sources(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a space without overrides dumps as before `sources` existed: its phase ids and cache keys (hashes of the
        # dump) stay the same, so earlier runs resume and reuse their intermediate encoders
        dumped = dump(self)
        return {key: value for key, value in dumped.items() if key != "sources" or self.sources}

    @model_validator(mode="after")
    def _dir_for_local(self) -> DataConfig:
        local = [f"sources.{task}" for task, source in self.sources.items() if source == "local"]
        if self.dir is None and (self.source == "local" or local):
            where = "source" if self.source == "local" else local[0]
            raise ValueError(f"{where}: local needs dir; allowed: a directory with the original files")
        return self


class RetrievalConfig(_Strict):
    """Sentence embeddings for BUCC and Tatoeba: the mean over non-pad tokens of one hidden layer (recorded)."""

    layer: int | None = Field(None, ge=0, description="hidden_states index (0 = embeddings); default: 14/24 of depth")
    max_length: PositiveInt = 512
    batch_size: PositiveInt = 100


class ResourcesConfig(_Strict):
    """Resources of one trial: its Ray Train workers."""

    num_workers: PositiveInt = 1
    worker_startup_timeout_s: PositiveFloat = Field(
        600.0, description="how long a trial waits for its workers (autoscaled GPU nodes take minutes to boot)"
    )
    cpus_per_worker: PositiveFloat = 1.0
    gpus_per_worker: float = Field(0.0, ge=0)
    gpu_memory_gb: PositiveFloat | None = Field(
        None, description="memory of one GPU in GB (e.g. 80 for A100/H100 80GB); `raytl plan` refuses a "
        "configuration whose estimated per-GPU memory does not fit"
    )


class DeepSpeedConfig(_Strict):
    """ZeRO stage, offload and precision; `auto` takes the model zoo entry's default."""

    zero_stage: Literal[0, 1, 2, 3, "auto"] = "auto"
    offload: Literal["none", "cpu", "nvme", "auto"] = "auto"
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "auto", description="auto: the model's default (bf16) where the GPU supports it, else fp16; fp32 on CPU"
    )
    nvme_path: Path | None = Field(None, description="local NVMe directory on every node, for offload: nvme")

    @model_validator(mode="after")
    def _nvme_has_path(self) -> DeepSpeedConfig:
        if self.offload == "nvme" and self.nvme_path is None:
            raise ValueError("offload: nvme needs nvme_path; allowed: a directory on a fast local disk")
        return self


class _Halving(_Strict):
    """Multi-fidelity early stopping over target-phase steps (the time attribute survives a resume)."""

    type: str
    grace_period: PositiveInt = Field(1, description="evaluations before a trial may be stopped")
    reduction_factor: float = Field(3.0, gt=1)
    max_t: PositiveInt | None = Field(
        None, description="target-phase steps of a whole trial (all targets); default: the sum of the targets' "
        "max_steps when every target sets it, else unbounded"
    )


class AshaScheduler(_Halving):
    """`type: asha` (the default): one bracket of asynchronous successive halving."""

    type: Literal["asha"] = "asha"


class HyperbandScheduler(_Halving):
    """`type: hyperband`: asynchronous Hyperband, `brackets` brackets of ASHA with staggered grace periods (Tune's
    synchronous HyperBand pauses trials, which here would tear down and rebuild every paused trial's Train workers,
    so it is not offered)."""

    type: Literal["hyperband"] = "hyperband"
    brackets: PositiveInt = Field(3, description="number of ASHA brackets")


class NoScheduler(_Strict):
    """`type: none`: every trial runs to its end (FIFO); no other key."""

    type: Literal["none"] = "none"


# `scheduler:` the variant its `type` names (asha when omitted, as when `scheduler` itself is)
SchedulerConfig = _variants("type", "asha", AshaScheduler, HyperbandScheduler, NoScheduler)


class TrackingConfig(_Strict):
    """Experiment tracking through Ray Tune's logger callbacks. TensorBoard files are always written (Tune's
    default loggers); MLflow and Weights & Biases when named here and installed. Credentials come from the
    environment (MLFLOW_TRACKING_TOKEN, WANDB_API_KEY), never from this file."""

    mlflow_experiment: str | None = None
    mlflow_tracking_uri: str | None = Field(None, description="default: MLFLOW_TRACKING_URI or ./mlruns")
    wandb_project: str | None = None
    wandb_group: str | None = None


class SearchConfig(_Strict):
    """How trials are proposed and how many run."""

    algorithm: Literal["optuna", "random", "grid"] = Field(
        "optuna", description="optuna = TPE; random = the baseline to compare with; grid = every model x intermediate "
        "once at the default (middle) learning rates, num_trials ignored"
    )
    mode: Literal["joint", "per_target"] = Field(
        "joint", description="joint: one objective, the mean over targets; per_target: one study per target, "
        "run one after the other, reporting the best intermediate task of each"
    )
    num_trials: PositiveInt = Field(10, description="trials per study (per target in per_target mode), first-pass "
                                    "points included; `raytl plan` prints the total")
    max_concurrent_trials: PositiveInt = 1
    seed: int = 0
    max_failures: int = Field(1, ge=0, description="retries of a failed trial from its last checkpoint")
    study_storage: str | None = Field(
        None, description="Optuna storage as an SQLAlchemy URL (e.g. postgresql://raytl@db/raytl, password from "
        "PGPASSWORD); default: SQLite in the run directory"
    )
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list)
    defaults_first: bool = Field(
        False, description="first evaluate every model x intermediate task once at the default (middle) learning "
        "rates (after any explicit points_to_evaluate)"
    )
    time_budget_s: PositiveFloat | None = Field(None, description="wall-clock limit of the search (per study)")
    gpu_hours: PositiveFloat | None = Field(
        None, description="stop when the trials' wall time x GPUs sums to this (GPUs = num_workers x gpus_per_worker)"
    )

    @model_validator(mode="after")
    def _grid_has_no_points(self) -> SearchConfig:
        if self.algorithm == "grid" and self.points_to_evaluate:
            raise ValueError("search.points_to_evaluate: a grid runs every cell once and its points would replace "
                             "cells; allowed: no points with algorithm: grid, or algorithm: optuna or random")
        return self


class _Mixture(_Strict):
    """A multi-task intermediate phase (the paper's "all tasks"): one head per task, each step's batch drawn from
    one task with probability proportional to the task's `weight`."""

    tasks: list[str] = Field(min_length=2)
    sampling: str

    def weight(self, size: int) -> float:
        """A task's unnormalised sampling weight from its number of training examples: the size itself."""
        return float(size)


class ProportionalMixture(_Mixture):
    """`sampling: proportional` (the default): a task is drawn with probability proportional to its size."""

    sampling: Literal["proportional"] = "proportional"


class TemperatureMixture(_Mixture):
    """`sampling: temperature`: a task is drawn with probability proportional to size^(1/temperature)."""

    sampling: Literal["temperature"] = "temperature"
    temperature: PositiveFloat = 2.0

    def weight(self, size: int) -> float:
        return float(size) ** (1.0 / self.temperature)


class CappedMixture(_Mixture):
    """`sampling: capped`: a task is drawn with probability proportional to min(size, cap)."""

    sampling: Literal["capped"] = "capped"
    cap: PositiveInt = Field(2**18, description="examples a task counts with at most")

    def weight(self, size: int) -> float:
        """A task counts with at most `cap` examples.

        >>> CappedMixture(tasks=["mnli", "mlm"], cap=100).weight(900)
        100.0
        """
        return float(min(size, self.cap))


# a `mixtures:` entry: the variant its `sampling` names (proportional when omitted)
MixtureConfig = _variants("sampling", "proportional", ProportionalMixture, TemperatureMixture, CappedMixture)


class SearchSpace(_Strict):
    """One search: what is searched, how each phase trains, and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    storage: str = Field("runs", description="run parent directory or cloud URI (s3://, gs://)")
    models: list[str] = Field(
        min_length=1, description="zoo names, or hub:<hub id>[@<revision>] or hub:<model directory>"
    )
    trust_remote_code: list[str] = Field(
        default_factory=list, description="models (from `models`) allowed to run code from their hub repository"
    )
    mixtures: dict[str, MixtureConfig] = Field(default_factory=dict, description="named multi-task mixtures")
    intermediate_tasks: list[str] = Field(
        min_length=1, description=f"task or mixture names, '{NO_INTERMEDIATE}' = baseline"
    )
    targets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description=(
        "training seeds: grid runs every cell at each seed; optuna and random take them in turn (trial i of a study "
        "uses seeds[i mod len(seeds)]), and defaults_first runs every model x task at each"))
    intermediate: PhaseConfig
    target: PhaseConfig
    data: DataConfig = DataConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    resources: ResourcesConfig = ResourcesConfig()
    deepspeed: DeepSpeedConfig = DeepSpeedConfig()
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = AshaScheduler()
    tracking: TrackingConfig = TrackingConfig()
    selection: Literal["en_dev", "target_dev"] = Field(
        "en_dev", description="the dev data every decision reads: en_dev = English dev (XTREME's protocol, truly "
        "zero-shot); target_dev = the targets' dev sets in their test languages where XTREME has them (uses "
        "labelled target-language data). Test is scored once per trial, for the selected checkpoint, and reported"
    )
    target_overrides: dict[str, PhaseOverride] = Field(
        default_factory=dict, description="per-target changes to `target`, e.g. {xquad: {epochs: 2, max_length: 384}}"
    )

    def target_phase(self, name: str) -> PhaseConfig:
        """The `target` phase with `target_overrides[name]` applied.

        >>> phase = {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 10}
        >>> space = parse_space({"name": "demo", "models": ["tiny"], "intermediate_tasks": ["none"],
        ...                      "targets": ["xnli", "xquad"], "intermediate": phase, "target": phase,
        ...                      "target_overrides": {"xquad": {"max_length": 384}}})
        >>> space.target_phase("xquad").max_length, space.target_phase("xnli").max_length
        (384, 128)
        """
        override = self.target_overrides.get(name)
        if override is None:
            return self.target
        changes = override.model_dump(exclude_none=True)
        if "max_steps" in changes and "epochs" not in changes:
            changes["epochs"] = None  # an override's length replaces the base one
        if "epochs" in changes and "max_steps" not in changes:
            changes["max_steps"] = None
        return PhaseConfig.model_validate({**self.target.model_dump(), **changes})

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        for old, hint in RENAMED_KEYS.items():
            *parents, last = old.split(".")
            node = data
            for parent in parents:
                node = node.get(parent) if isinstance(node, dict) else None
            if isinstance(node, dict) and last in node:
                raise ValueError(f"{old}: {hint}")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpace:
        for name in self.target_overrides:
            if name not in self.targets:
                raise ValueError(f"target_overrides: '{name}' is not a target; allowed: {', '.join(self.targets)}")
        overrides = {f"target_overrides.{name}": o for name, o in self.target_overrides.items()}
        for where, phase in (("intermediate", self.intermediate), ("target", self.target), *overrides.items()):
            for model in phase.lr_by_model or {}:
                if model not in self.models:
                    raise ValueError(f"{where}.lr_by_model: '{model}' is not searched; allowed: "
                                     f"{', '.join(self.models)}")
        if self.target.equalise:
            raise ValueError("target.equalise: only intermediate tasks are equalised; allowed: intermediate.equalise")
        if self.search.mode == "joint" and any(o.lr or o.lr_by_model for o in self.target_overrides.values()):
            raise ValueError("target_overrides: a per-target lr needs search.mode: per_target (in joint mode one "
                             "lr_target is searched for all targets)")
        return self

    @field_validator("models")
    @classmethod
    def _known_models(cls, names: list[str], info: ValidationInfo) -> list[str]:
        allowed = (info.context or {}).get("models")
        hub = [name for name in names if name.startswith(HUB_PREFIX) and len(name) > len(HUB_PREFIX)]
        for name in hub:
            split_hub_name(name)
        _check_names(names, None, "model")
        if allowed is not None:
            _check_names([n for n in names if n not in hub],
                         [*allowed, f"{HUB_PREFIX}<hub id>[@<revision>] or {HUB_PREFIX}<model directory>"], "model")
        return names

    def searched_tasks(self) -> list[str]:
        """Every task whose data a trial may load: the intermediate tasks (mixtures expanded), then the targets."""
        names = [t for name in self.intermediate_tasks if name != NO_INTERMEDIATE
                 for t in (self.mixtures[name].tasks if name in self.mixtures else [name])]
        return list(dict.fromkeys([*names, *self.targets]))

    @model_validator(mode="after")
    def _sources_serve_tasks(self, info: ValidationInfo) -> SearchSpace:
        """Each task's data source must have a reader for it (context `task_sources`: task -> sources it has)."""
        readers = (info.context or {}).get("task_sources")
        if readers is None:
            return self
        for name, source in self.data.sources.items():
            if name not in readers:
                raise ValueError(f"data.sources: unknown task '{name}'; allowed: {', '.join(readers)}")
            if source not in readers[name]:
                raise ValueError(f"data.sources.{name}: {_lacks(name, source)}; allowed: {', '.join(readers[name])}")
        for name in self.searched_tasks():
            source = self.data.source
            if name not in self.data.sources and source not in readers.get(name, [source]):
                raise ValueError(f"data.source: {source} applies to searched task '{name}', but {_lacks(name, source)}"
                                 f"; allowed: data.sources.{name}: {' or '.join(readers[name])}")
        return self

    @model_validator(mode="after")
    def _trusted_are_searched(self) -> SearchSpace:
        for name in self.trust_remote_code:
            if name not in self.models:
                raise ValueError(f"trust_remote_code: '{name}' is not in models; allowed: {', '.join(self.models)}")
        return self

    @model_validator(mode="after")
    def _batches_divide(self) -> SearchSpace:
        workers = self.resources.num_workers
        phases = [("intermediate", self.intermediate), *((f"target ({t})", self.target_phase(t)) for t in self.targets)]
        for where, phase in phases:
            micro = phase.micro_batch_size or max(1, phase.batch_size // workers)
            if phase.batch_size % (micro * workers):
                raise ValueError(f"{where}: batch_size {phase.batch_size} is not a multiple of micro_batch_size "
                                 f"{micro} x num_workers {workers} = {micro * workers}; allowed: batch_size = "
                                 "micro_batch_size x num_workers x gradient accumulation steps")
        return self

    @field_validator("intermediate_tasks")
    @classmethod
    def _known_intermediates(cls, names: list[str], info: ValidationInfo) -> list[str]:
        allowed = (info.context or {}).get("intermediate_tasks")
        mixtures = list(info.data.get("mixtures") or {})
        return _check_names(names, None if allowed is None else [NO_INTERMEDIATE, *allowed, *mixtures],
                            "intermediate task")

    @field_validator("mixtures")
    @classmethod
    def _mixtures_of_known_tasks(cls, mixtures: dict[str, MixtureConfig], info: ValidationInfo
                                 ) -> dict[str, MixtureConfig]:
        allowed = (info.context or {}).get("intermediate_tasks")
        for name, mixture in mixtures.items():
            if allowed is not None and name in allowed:
                raise ValueError(f"mixture '{name}' has the name of a task; allowed: a new name")
            _check_names(mixture.tasks, allowed, f"task of mixture '{name}'")
        return mixtures

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return _check_names(names, (info.context or {}).get("targets"), "target task")


def _lacks(task: str, source: str) -> str:
    missing = {"hub": "no hub copy", "local": "no reader of original files"}.get(source, f"no {source} data")
    return f"task '{task}' has {missing}"


def _check_names(names: list[str], allowed: Iterable[str] | None, what: str) -> list[str]:
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
        return "unknown key; allowed: see the README"
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
