"""The plain sections of the search-space file: `data`, `retrieval`, `resources`, `deepspeed`, `tracking` and
`search` (each a strict model with defaults, so a file may leave any of them out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, SerializerFunctionWrapHandler, model_serializer, model_validator

from raytl.config.base import Strict

DataSource = Literal["hub", "local", "generated"]


class DataConfig(Strict):
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
    generated_train_size: PositiveInt = Field(2000, description="training rows per task and language, source: "
                                              "generated")
    generated_eval_size: PositiveInt = Field(200, description="dev and test rows per task and language, source: "
                                             "generated")
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


class RetrievalConfig(Strict):
    """Sentence embeddings for BUCC and Tatoeba: the mean over non-pad tokens of one hidden layer (recorded)."""

    layer: int | None = Field(None, ge=0, description="hidden_states index (0 = embeddings); default: 14/24 of depth")
    max_length: PositiveInt = Field(512, description="tokens per embedded sentence")
    batch_size: PositiveInt = Field(100, description="sentences per forward pass")


class ResourcesConfig(Strict):
    """Resources of one trial: its Ray Train workers."""

    num_workers: PositiveInt = Field(1, description="Ray Train workers of one trial (data-parallel ranks)")
    worker_startup_timeout_s: PositiveFloat = Field(
        600.0, description="how long a trial waits for its workers (autoscaled GPU nodes take minutes to boot)"
    )
    cpus_per_worker: PositiveFloat = Field(1.0, description="CPUs Ray reserves for each worker")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs Ray reserves for each worker (0: CPU, gloo)")
    gpu_memory_gb: PositiveFloat | None = Field(
        None, description="memory of one GPU in GB (e.g. 80 for A100/H100 80GB); `raytl plan` refuses a "
        "configuration whose estimated per-GPU memory does not fit"
    )
    mfu: float | None = Field(
        None, gt=0, le=1, description="model FLOPs utilisation `raytl plan` prices GPU-hours at (default: bench gpu's "
        "measured figure when there is one, else 0.35, an assumption; see raytl/search/compute_plan.py)"
    )
    gpu_tflops: PositiveFloat | None = Field(
        None, description="one GPU's bf16 dense peak in TFLOP/s for `raytl plan`'s GPU-hours (default 989.5, an "
        "H100 SXM; A100: 312)"
    )


class DeepSpeedConfig(Strict):
    """ZeRO stage, offload and precision; `auto` takes the model zoo entry's default."""

    zero_stage: Literal[0, 1, 2, 3, "auto"] = Field("auto", description="DeepSpeed ZeRO stage; auto: the model's")
    offload: Literal["none", "cpu", "nvme", "auto"] = Field(
        "auto", description="where ZeRO-2/3 offloads optimizer states (ZeRO-3: parameters too); auto: the model's; "
        "nvme needs nvme_path"
    )
    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "auto", description="auto: the model's default (bf16) where the GPU supports it, else fp16; fp32 on CPU"
    )
    nvme_path: Path | None = Field(None, description="local NVMe directory on every node, for offload: nvme")

    @model_validator(mode="after")
    def _nvme_has_path(self) -> DeepSpeedConfig:
        if self.offload == "nvme" and self.nvme_path is None:
            raise ValueError("offload: nvme needs nvme_path; allowed: a directory on a fast local disk")
        return self


class TrackingConfig(Strict):
    """Experiment tracking through Ray Tune's logger callbacks. TensorBoard files are always written (Tune's
    default loggers); MLflow and Weights & Biases when named here and installed. Credentials come from the
    environment (MLFLOW_TRACKING_TOKEN, WANDB_API_KEY), never from this file."""

    mlflow_experiment: str | None = Field(None, description="log every trial to this MLflow experiment")
    mlflow_tracking_uri: str | None = Field(None, description="default: MLFLOW_TRACKING_URI or ./mlruns")
    wandb_project: str | None = Field(None, description="log every trial to this Weights & Biases project")
    wandb_group: str | None = Field(None, description="Weights & Biases run group")


class SearchConfig(Strict):
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
    max_concurrent_trials: PositiveInt = Field(1, description="trials running at once (each needs its workers' "
                                               "resources)")
    seed: int = Field(0, description="seeds the sampler (TPE, random, grid order)")
    max_failures: int = Field(1, ge=0, description="retries of a failed trial from its last checkpoint")
    study_storage: str | None = Field(
        None, description="Optuna storage as an SQLAlchemy URL (e.g. postgresql://raytl@db/raytl, password from "
        "PGPASSWORD); default: SQLite in the run directory"
    )
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="trials run first, e.g. {model: tiny, intermediate: none, lr_target: 2e-3}; "
        "a key left out is sampled (refused with algorithm: grid)"
    )
    defaults_first: bool = Field(
        False, description="first evaluate every model x intermediate task once at the default (middle) learning "
        "rates (after any explicit points_to_evaluate)"
    )
    time_budget_s: PositiveFloat | None = Field(None, description="wall-clock limit of the search (per study)")
    gpu_hours: PositiveFloat | None = Field(
        None, description="stop when the trials' wall time x GPUs sums to this (GPUs = num_workers x gpus_per_worker)"
    )
    first_pass: Literal["none", "halving"] = Field(
        "none", description="per_target mode: halving = before each target's study, synchronous successive halving "
        "over its candidate intermediate tasks at the default learning rates (rungs at scheduler.grace_period "
        "evaluations, x scheduler.reduction_factor); the study then searches the target learning rate of the "
        "finalists only (see the First pass section of docs/readme/search.md)"
    )
    prior: Literal["none", "semb", "logme"] = Field(
        "none", description="first_pass: halving: rank the candidates by this transferability prior (`raytl rank`), "
        "saved as RUN_DIR/prior.json; none: the catalogue's order"
    )
    top_k: PositiveInt | None = Field(
        None, description="first_pass: intermediate tasks per target that the first pass trains, the prior's top k "
        "(the baseline `none` always added); default: every one. A cut risks leaving a target's best task out: at a "
        "prior of Spearman 0.6, 7 of 12 keeps it in 96% of targets, 5 in 90% (Choosing top_k, docs/readme/search.md)"
    )
    ladder: bool = Field(
        False, description="first_pass: the models one after the other, smallest first, every target at each size; a "
        "larger model tries only the carry_k best of the size below it (its measured ranking, ties by the prior)"
    )
    carry_k: PositiveInt = Field(2, description="ladder: intermediate tasks a larger model tries (plus none)")
    finalists: PositiveInt = Field(
        2, description="first_pass: intermediate tasks per model and target whose target learning rate the study "
        "searches (the first pass's best, plus none)"
    )

    @model_validator(mode="after")
    def _first_pass_settings(self) -> SearchConfig:
        if self.first_pass == "halving" and (self.mode != "per_target" or self.algorithm == "grid"):
            raise ValueError("search.first_pass: halving chooses each target's candidates; allowed with mode: "
                             "per_target and algorithm: optuna or random")
        changed = [key for key in ("prior", "top_k", "ladder") if key in self.model_fields_set
                   and getattr(self, key) not in ("none", None, False)]
        if changed and self.first_pass != "halving":
            raise ValueError(f"search.{changed[0]} shapes the first pass; allowed only with first_pass: halving")
        return self

    @model_validator(mode="after")
    def _grid_has_no_points(self) -> SearchConfig:
        if self.algorithm == "grid" and self.points_to_evaluate:
            raise ValueError("search.points_to_evaluate: a grid runs every cell once and its points would replace "
                             "cells; allowed: no points with algorithm: grid, or algorithm: optuna or random")
        return self
