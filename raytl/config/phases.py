"""How one training phase runs (`intermediate:`, `target:`), and the per-target changes to the target phase."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PositiveFloat, PositiveInt, create_model, model_serializer, model_validator
from pydantic.fields import FieldInfo

from raytl.config.base import Strict


class LogRange(Strict):
    """A log-uniform range, e.g. `{low: 1e-5, high: 1e-4}`."""

    low: PositiveFloat = Field(description="lowest value searched; equal to high: a fixed value")
    high: PositiveFloat = Field(description="highest value searched")

    @model_validator(mode="after")
    def _ordered(self) -> LogRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}); allowed: low <= high")
        return self


class Equalise(Strict):
    """The same amount of intermediate training for every task, so that a task's complexity is not confounded with
    the size of its training set (9,741 to 1,104,934 examples in the catalog). Exactly one key:
    `{examples: N}`: each task trains on a random sample of exactly N of its training examples (per training
    language), drawn with the trial's seed (a task with fewer is an error); `{steps: N}`: each task trains exactly
    N optimizer steps (this sets the phase's `max_steps`, whichever the task's size)."""

    examples: PositiveInt | None = Field(None, description="training examples per task (per training language), a "
                                         "random sample drawn with the trial's seed")
    steps: PositiveInt | None = Field(None, description="optimizer steps per task (sets the phase's max_steps)")

    @model_validator(mode="after")
    def _exactly_one(self) -> Equalise:
        if (self.examples is None) == (self.steps is None):
            raise ValueError("set exactly one key; allowed: {examples: N} or {steps: N}")
        return self


class PhaseConfig(Strict):
    """How one training phase runs; the learning rate is searched inside `lr`."""

    lr: LogRange = Field(description="the learning-rate range searched (log-uniform); its geometric middle is the "
                         "default learning rate of grid and first-pass trials")
    epochs: PositiveFloat | None = Field(None, description="passes over the training set")
    max_steps: PositiveInt | None = Field(None, description="optimizer steps; wins over epochs when both are set")
    batch_size: PositiveInt = Field(32, description="effective (global) batch size")
    micro_batch_size: PositiveInt | None = Field(
        None, description="rows per GPU per forward/backward; batch_size = micro_batch_size x num_workers x "
        "gradient accumulation steps; default batch_size / num_workers (no accumulation)"
    )
    max_length: PositiveInt = Field(128, description="tokens per input sequence")
    eval_every: PositiveInt = Field(100, description="evaluate and checkpoint every N optimizer steps")
    checkpoint_minutes: PositiveFloat | None = Field(
        None, description="also evaluate and checkpoint once this much wall time passed since the last checkpoint "
        "(bounds the work a preempted node loses when steps are slow)"
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of the phase's steps with a linear warm-up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    grad_clip: PositiveFloat = Field(1.0, description="gradient norm clipping")
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
    return create_model(name, __base__=Strict, __doc__=doc, __module__=__name__, **fields)


PhaseOverride = _optional_fields(
    PhaseConfig, "PhaseOverride", "Per-target changes to the `target` phase, e.g. `{lr: {low: 3e-5, high: 3e-5}, "
    "epochs: 2, max_length: 384}`: any `PhaseConfig` field but those in NOT_OVERRIDABLE.", NOT_OVERRIDABLE,
)
