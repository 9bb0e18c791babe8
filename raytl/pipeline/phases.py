"""The phases of a trial, run on every Ray Train worker: intermediate (English) -> target (English) -> zero-shot.

Knows DeepSpeed only through `Engine` and Ray not at all: reporting goes through the `report` callable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from raytl.config import NO_INTERMEDIATE, PhaseConfig, SearchSpace
from raytl.models.task_model import TaskModel, build_encoder, load_encoder_dir
from raytl.models.zoo import ModelEntry, resolve_model
from raytl.pipeline.cache import cache_key, cached, tokenizer_fingerprint
from raytl.pipeline.mixture import MixtureHead, mixture_batches, mixture_loss, sampling_weights
from raytl.pipeline.run_dir import RunDir, write_atomic
from raytl.pipeline.store import PhaseStore
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.labels import with_labels
from raytl.tasks.loading import load_examples, seeded_sample
from raytl.tasks.metrics import METRICS
from raytl.training.batching import TrainBatches, row_length
from raytl.training.engine import (
    DeepSpeedSettings,
    Engine,
    Ranks,
    deepspeed_config,
    gpu_settings,
    model_construction,
)
from raytl.training.loop import fit
from raytl.training.predict import predict

PHASE_CODE_VERSION = 1  # bump when a change alters what an intermediate phase produces


@dataclass(frozen=True)
class TrialParams:
    """One point of the search: what Optuna proposed for a trial."""

    model: str
    intermediate: str
    lr_intermediate: float
    lr_target: float
    seed: int = 0


@dataclass
class TargetResult:
    """One target of a trial: the dev-selected checkpoint (its selection score, step and per-language dev
    metrics) and, once the target is finished, that checkpoint's test task score and per-language test metrics,
    which are reported and never compared."""

    dev: float = -math.inf
    step: int = 0
    dev_languages: dict[str, dict[str, float]] = field(default_factory=dict)
    score: float = math.nan
    languages: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Worker:
    """What every phase needs on one Ray Train worker."""

    space: SearchSpace
    params: TrialParams
    ranks: Ranks
    run: RunDir
    trial_id: str

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


def intermediate_phase_id(space: SearchSpace, params: TrialParams) -> str:
    """Everything that determines an intermediate encoder, hashed: trials that agree on it share one training."""
    phase = space.intermediate.model_dump(mode="json", exclude={"lr", "eval_every", "checkpoint_minutes"})
    identity = {
        "code": PHASE_CODE_VERSION,
        "model": asdict(resolve_model(params.model, params.model in space.trust_remote_code)),
        "task": params.intermediate,
        "mixture": space.mixtures[params.intermediate].model_dump() if params.intermediate in space.mixtures else None,
        "lr": params.lr_intermediate,
        "seed": params.seed,
        "phase": phase,
        "data": space.data.model_dump(mode="json"),
        "deepspeed": space.deepspeed.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def encoded(worker: Worker, task: Task, split: str, lang: str, max_length: int) -> tuple[Dataset, list[dict]]:
    """Canonical examples and their tokenised rows (as plain dicts, fast to collate), cached on disk."""
    data = worker.space.data
    cap, sample = None, None
    if split == "train":
        cap = (worker.space.intermediate if task.role == "intermediate" else worker.space.target).max_train_examples
        sample = worker.space.intermediate.train_sample(worker.params.seed) if task.role == "intermediate" else None
    key = cache_key(task=task.name, labels=task.labels, split=split, lang=lang, max_length=max_length, cap=cap,
                    format=task.format, format_settings=vars(FORMATS[task.format]), data=data.model_dump(mode="json"),
                    tokenizer=tokenizer_fingerprint(worker.tokenizer), **({"sample": sample} if sample else {}))

    def build() -> tuple[Dataset, Dataset]:
        examples = load_examples(task, split, lang, data)  # type: ignore[arg-type]
        if cap:
            examples = examples.select(range(min(cap, len(examples))))
        if sample:  # intermediate.equalise.examples: the same count for every task
            examples = seeded_sample(examples, *sample, where=f"task '{task.name}', language '{lang}'")
        return examples, FORMATS[task.format].encode(examples, worker.tokenizer, max_length, task)

    examples, features = cached(key, build)
    return examples, features.to_list()


def evaluate(worker: Worker, engine: Engine, task: Task, split: str, languages: list[str], phase: PhaseConfig
             ) -> dict[str, tuple[dict[str, float], list[Any], Dataset]]:
    """(metrics, predictions, examples) per language. All languages go through one length-sorted prediction pass,
    so batches fill up across languages instead of ending ragged at every language's end."""
    fmt = FORMATS[task.format]
    encoded_languages = {lang: encoded(worker, task, split, lang, phase.max_length) for lang in languages}
    rows = [row for _, lang_rows in encoded_languages.values() for row in lang_rows]
    logits = predict(engine, rows, 2 * phase.batch_size, worker.tokenizer.pad_token_id, worker.ranks)
    results, start = {}, 0
    for lang, (examples, lang_rows) in encoded_languages.items():
        lang_logits, start = logits[start : start + len(lang_rows)], start + len(lang_rows)
        predictions = fmt.decode(lang_logits, lang_rows, examples, task)
        metrics = METRICS[task.metric](predictions, fmt.references(examples, task, lang_rows), lang)
        results[lang] = (metrics, predictions, examples)
    return results


def obtain_intermediate(worker: Worker) -> Path | None:
    """The published intermediate encoder this trial needs: loaded if another trial built it, else built here."""
    if worker.params.intermediate == NO_INTERMEDIATE:
        return None
    store = worker.run.phase_store()
    phase_id = intermediate_phase_id(worker.space, worker.params)
    asked = time.monotonic()
    while True:
        decision = None
        if worker.ranks.is_main:
            if store.verified(phase_id):
                decision = "load"
            elif store.try_lease(phase_id, owner=worker.trial_id):
                decision = "build"
        decision = worker.ranks.broadcast(decision)
        if decision == "load":
            if worker.ranks.is_main:
                store.record_reuse(phase_id, worker.trial_id, waited_s=time.monotonic() - asked)
            return store.path(phase_id)
        if decision == "build":
            return _build_intermediate(worker, store, phase_id)
        store.poll_wait()


def _build_intermediate(worker: Worker, store: PhaseStore, phase_id: str) -> Path:
    name, phase = worker.params.intermediate, worker.space.intermediate
    mixture = worker.space.mixtures.get(name)
    tasks = [with_labels(TASKS[task], worker.space.data) for task in (mixture.tasks if mixture else [name])]
    lease = store.heartbeat(phase_id) if worker.ranks.is_main else contextlib.nullcontext()
    with lease:
        def build() -> TaskModel:
            encoder = build_encoder(worker.entry, worker.tokenizer, worker.params.seed)
            heads = {task.name: FORMATS[task.format].head(encoder.config, task) for task in tasks}
            return TaskModel(encoder, MixtureHead(heads) if mixture else heads[name])

        batches = [train_batches(worker, task, phase) for task in tasks]
        total = phase.max_steps or math.ceil(phase.epochs * sum(b.steps_per_epoch for b in batches))
        engine = make_engine(worker, build, phase, worker.params.lr_intermediate, total)
        if mixture:
            weights = sampling_weights([len(b.lengths) for b in batches], mixture)
            stream = mixture_batches(batches, weights, worker.params.seed)
            loss = mixture_loss([FORMATS[task.format].loss for task in tasks])
        else:
            stream, loss = batches[0].from_step(0), FORMATS[tasks[0].format].loss
        fit(engine, stream, loss, start_step=0, total_steps=total, eval_every=total,
            on_evaluation=lambda step, mean_loss: None)
        dev = {}
        for task in tasks:
            if mixture:
                engine.ds.module.head.select(task.name)
            dev[task.name] = evaluate(worker, engine, task, "validation", ["en"], phase)["en"][0]
        state = engine.state_dict_of("encoder")
        if worker.ranks.is_main:
            meta = {"task": name, "trial_id": worker.trial_id, "steps": total, "dev": dev if mixture else dev[name]}
            store.publish(phase_id, lambda tmp: engine.ds.module.encoder.save_pretrained(tmp, state_dict=state), meta)
    worker.ranks.barrier()
    return store.path(phase_id)


def train_batches(worker: Worker, task: Task, phase: PhaseConfig) -> TrainBatches:
    """This rank's share of the task's training rows (every train language), length-grouped and padded per batch."""
    rows = [row for lang in task.train_languages for row in encoded(worker, task, "train", lang, phase.max_length)[1]]
    batches = TrainBatches(
        rows=rows,
        lengths=[row_length(row) for row in rows],
        keys=FORMATS[task.format].batch_columns,
        batch_size=phase.batch_size,
        micro_batch=worker.settings(phase).micro_batch,
        seed=worker.params.seed,
        rank=worker.ranks.rank,
        world=worker.ranks.world,
        pad_id=worker.tokenizer.pad_token_id,
    )
    if batches.steps_per_epoch == 0:
        raise ValueError(f"task '{task.name}': {len(rows)} training rows make no batch of {phase.batch_size}")
    return batches


def make_engine(worker: Worker, build: Callable[[], torch.nn.Module], phase: PhaseConfig, lr: float,
                 total: int) -> Engine:
    """The phase's engine around the model `build()` makes (partitioned at construction under ZeRO-3)."""
    config = deepspeed_config(worker.settings(phase), phase.batch_size, lr, total, int(phase.warmup_ratio * total),
                              phase.grad_clip)
    with model_construction(config):
        model = build()
    return Engine(model, config, phase.weight_decay)


def load_encoder(worker: Worker, directory: Path | None) -> torch.nn.Module:
    """The encoder a target phase starts from: the published intermediate one, loaded strictly, or the base."""
    if directory is None:
        return build_encoder(worker.entry, worker.tokenizer, worker.params.seed)
    return load_encoder_dir(directory, worker.entry)


@dataclass
class Progress:
    """Where a trial is: finished targets, and the current target's step and best-so-far. Saved beside every
    checkpoint as `progress.json`, so a resumed trial knows where to continue before it builds anything."""

    completed: dict[str, TargetResult] = field(default_factory=dict)
    target: str = ""
    step: int = 0
    best: TargetResult = field(default_factory=TargetResult)
    steps_before: int = 0  # target-phase steps of the finished targets: the search's time axis

    FILE = "progress.json"

    def save(self, directory: Path) -> None:
        write_atomic(directory / self.FILE, json.dumps(asdict(self)))

    @classmethod
    def load(cls, directory: Path) -> Progress:
        data = json.loads((directory / cls.FILE).read_text())
        return cls(
            completed={name: TargetResult(**result) for name, result in data["completed"].items()},
            target=data["target"],
            step=data["step"],
            best=TargetResult(**data["best"]),
            steps_before=data["steps_before"],
        )
