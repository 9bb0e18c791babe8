"""What every phase of a trial needs on one Ray Train worker: the trial's context (space, point, ranks, run
directory), its data (encoded and cached), prediction over languages, and the engine a phase trains.

Knows DeepSpeed only through `Engine` and Ray not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from raytl.config import PhaseConfig, SearchSpace
from raytl.models.task_model import build_encoder, load_encoder_dir
from raytl.models.zoo import ModelEntry, resolve_model
from raytl.pipeline.cache import cache_key, cached, tokenizer_fingerprint
from raytl.pipeline.phase_id import TrialParams
from raytl.pipeline.run_dir import RunDir
from raytl.tasks import Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.loading import load_examples, seeded_sample
from raytl.tasks.metrics import METRICS
from raytl.training.batching import TrainBatches, row_length
from raytl.training.distributed import Ranks
from raytl.training.engine import DeepSpeedSettings, Engine, deepspeed_config, gpu_settings, model_construction
from raytl.training.predict import predict


class RungReached(Exception):  # noqa: N818 (an event, not an error)
    """A first-pass trial reached its rung: its evaluation was reported with a checkpoint; the trial ends here and
    the next rung continues it."""


@dataclass(frozen=True)
class TrialContext:
    """One trial as one Ray Train worker (rank) sees it: what every phase needs."""

    space: SearchSpace
    params: TrialParams
    ranks: Ranks
    run: RunDir
    trial_id: str
    until: int | None = None  # a first-pass rung (`raytl.search.first_pass`): stop after the evaluation at this
    until_fraction: float | None = None  # target-phase step, or this fraction of the phase's steps

    def rung_reached(self, step: int, total: int) -> bool:
        """Whether a first-pass rung ends at this evaluation (never at the phase's end: that is the phase's)."""
        end = self.until if self.until is not None else (
            self.until_fraction * total if self.until_fraction is not None else None)
        return end is not None and end <= step < total

    @property
    def entry(self) -> ModelEntry:
        return resolve_model(self.params.model, self.params.model in self.space.trust_remote_code)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return _tokenizer(self.entry)

    def settings(self, phase: PhaseConfig) -> DeepSpeedSettings:
        world, ds = self.ranks.world, self.space.deepspeed
        return gpu_settings(ds, self.entry, world, phase.batch_size, phase.micro_batch_size)


@cache
def _tokenizer(entry: ModelEntry) -> PreTrainedTokenizerBase:
    from raytl.models.tokenizer import load_tokenizer

    return load_tokenizer(entry)


def encoded(trial: TrialContext, task: Task, split: str, lang: str, max_length: int) -> tuple[Dataset, list[dict]]:
    """Canonical examples and their tokenised rows (as plain dicts, fast to collate), cached on disk."""
    data = trial.space.data
    cap, sample = None, None
    if split == "train":
        cap = (trial.space.intermediate if task.role == "intermediate" else trial.space.target).max_train_examples
        sample = trial.space.intermediate.train_sample(trial.params.seed) if task.role == "intermediate" else None
    key = cache_key(task=task.name, labels=task.labels, split=split, lang=lang, max_length=max_length, cap=cap,
                    format=task.format, format_settings=vars(FORMATS[task.format]), data=data.model_dump(mode="json"),
                    tokenizer=tokenizer_fingerprint(trial.tokenizer), **({"sample": sample} if sample else {}))

    def build() -> tuple[Dataset, Dataset]:
        examples = load_examples(task, split, lang, data)  # type: ignore[arg-type]
        if cap:
            examples = examples.select(range(min(cap, len(examples))))
        if sample:  # intermediate.equalise.examples: the same count for every task
            examples = seeded_sample(examples, *sample, where=f"task '{task.name}', language '{lang}'")
        return examples, FORMATS[task.format].encode(examples, trial.tokenizer, max_length, task)

    examples, features = cached(key, build)
    return examples, features.to_list()


def evaluate(trial: TrialContext, engine: Engine, task: Task, split: str, languages: list[str], phase: PhaseConfig
             ) -> dict[str, tuple[dict[str, float], list[Any], Dataset]]:
    """(metrics, predictions, examples) per language. All languages go through one length-sorted prediction pass,
    so batches fill up across languages instead of ending ragged at every language's end."""
    fmt = FORMATS[task.format]
    encoded_languages = {lang: encoded(trial, task, split, lang, phase.max_length) for lang in languages}
    rows = [row for _, lang_rows in encoded_languages.values() for row in lang_rows]
    logits = predict(engine, rows, 2 * phase.batch_size, trial.tokenizer.pad_token_id, trial.ranks)
    results, start = {}, 0
    for lang, (examples, lang_rows) in encoded_languages.items():
        lang_logits, start = logits[start : start + len(lang_rows)], start + len(lang_rows)
        predictions = fmt.decode(lang_logits, lang_rows, examples, task)
        metrics = METRICS[task.metric](predictions, fmt.references(examples, task, lang_rows), lang)
        results[lang] = (metrics, predictions, examples)
    return results


def train_batches(trial: TrialContext, task: Task, phase: PhaseConfig) -> TrainBatches:
    """This rank's share of the task's training rows (every train language), length-grouped and padded per batch."""
    rows = [row for lang in task.train_languages for row in encoded(trial, task, "train", lang, phase.max_length)[1]]
    batches = TrainBatches(
        rows=rows,
        lengths=[row_length(row) for row in rows],
        keys=FORMATS[task.format].batch_columns,
        batch_size=phase.batch_size,
        micro_batch=trial.settings(phase).micro_batch,
        seed=trial.params.seed,
        rank=trial.ranks.rank,
        world=trial.ranks.world,
        pad_id=trial.tokenizer.pad_token_id,
    )
    if batches.steps_per_epoch == 0:
        raise ValueError(f"task '{task.name}': {len(rows)} training rows make no batch of {phase.batch_size}")
    return batches


def make_engine(trial: TrialContext, build: Callable[[], torch.nn.Module], phase: PhaseConfig, lr: float,
                 total: int) -> Engine:
    """The phase's engine around the model `build()` makes (partitioned at construction under ZeRO-3)."""
    config = deepspeed_config(trial.settings(phase), phase.batch_size, lr, total, int(phase.warmup_ratio * total),
                              phase.grad_clip)
    with model_construction(config):
        model = build()
    return Engine(model, config, phase.weight_decay)


def load_encoder(trial: TrialContext, directory: Path | None) -> torch.nn.Module:
    """The encoder a target phase starts from: the published intermediate one, loaded strictly, or the base."""
    if directory is None:
        return build_encoder(trial.entry, trial.tokenizer, trial.params.seed)
    return load_encoder_dir(directory, trial.entry)
