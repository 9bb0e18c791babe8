"""`SearchSpace`, the whole search-space file: its sections, and the checks that read more than one key (names
against the registries in the validation context, per-target overrides against the targets, batch sizes against
the workers, data sources against the searched tasks). `raytl.config.loading` reads a file into it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from raytl.config.base import Strict
from raytl.config.mixtures import MixtureConfig
from raytl.config.names import HUB_PREFIX, NO_INTERMEDIATE, check_names, split_hub_name
from raytl.config.phases import PhaseConfig, PhaseOverride
from raytl.config.schedulers import AshaScheduler, SchedulerConfig
from raytl.config.sections import (
    DataConfig,
    DeepSpeedConfig,
    ResourcesConfig,
    RetrievalConfig,
    SearchConfig,
    TrackingConfig,
)

RENAMED_KEYS = {  # dotted key paths that changed: refused with the new spelling, never silently reinterpreted
    "eval_split": "removed (it put test scores into the objective); allowed: selection: en_dev (default) or "
    "target_dev. Every decision reads dev data; test is scored once per trial, for the selected checkpoint",
    "search.storage": "renamed; allowed: search.study_storage (the Optuna study's SQLAlchemy URL; the top-level "
    "`storage` is the run parent directory)",
}


class SearchSpace(Strict):
    """One search: what is searched, how each phase trains, and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the run directory's name (storage/name) and the "
                      "Optuna study's")
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
    targets: list[str] = Field(min_length=1, description="target tasks; the objective is the unweighted mean of "
                               "their dev selection scores")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description=(
        "training seeds: grid runs every cell at each seed; optuna and random take them in turn (trial i of a study "
        "uses seeds[i mod len(seeds)]), and defaults_first runs every model x task at each"))
    intermediate: PhaseConfig = Field(description="how every intermediate task trains (English)")
    target: PhaseConfig = Field(description="how every target task trains (English), before zero-shot evaluation")
    data: DataConfig = Field(DataConfig(), description="where task data comes from")
    retrieval: RetrievalConfig = Field(RetrievalConfig(), description="BUCC and Tatoeba sentence embeddings")
    resources: ResourcesConfig = Field(ResourcesConfig(), description="workers, CPUs, GPUs of one trial")
    deepspeed: DeepSpeedConfig = Field(DeepSpeedConfig(), description="ZeRO stage, offload, precision")
    search: SearchConfig = Field(SearchConfig(), description="how trials are proposed, how many, budgets")
    scheduler: SchedulerConfig = Field(AshaScheduler(), description="early stopping of trials, chosen by type")
    tracking: TrackingConfig = Field(TrackingConfig(), description="MLflow and Weights & Biases logging")
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

        >>> from raytl.config import parse_space
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
        if self.search.first_pass == "halving" and self.scheduler.type == "none":
            raise ValueError("search.first_pass: halving rungs at scheduler.grace_period evaluations x "
                             "scheduler.reduction_factor; allowed: scheduler type asha or hyperband")
        return self

    @field_validator("models")
    @classmethod
    def _known_models(cls, names: list[str], info: ValidationInfo) -> list[str]:
        allowed = (info.context or {}).get("models")
        hub = [name for name in names if name.startswith(HUB_PREFIX) and len(name) > len(HUB_PREFIX)]
        for name in hub:
            split_hub_name(name)
        check_names(names, None, "model")
        if allowed is not None:
            check_names([n for n in names if n not in hub],
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
        return check_names(names, None if allowed is None else [NO_INTERMEDIATE, *allowed, *mixtures],
                            "intermediate task")

    @field_validator("mixtures")
    @classmethod
    def _mixtures_of_known_tasks(cls, mixtures: dict[str, MixtureConfig], info: ValidationInfo
                                 ) -> dict[str, MixtureConfig]:
        allowed = (info.context or {}).get("intermediate_tasks")
        for name, mixture in mixtures.items():
            if allowed is not None and name in allowed:
                raise ValueError(f"mixture '{name}' has the name of a task; allowed: a new name")
            check_names(mixture.tasks, allowed, f"task of mixture '{name}'")
        return mixtures

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return check_names(names, (info.context or {}).get("targets"), "target task")


def _lacks(task: str, source: str) -> str:
    missing = {"hub": "no hub copy", "local": "no reader of original files"}.get(source, f"no {source} data")
    return f"task '{task}' has {missing}"
