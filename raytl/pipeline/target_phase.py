"""The target phase of a trial: train a fresh head on the transferred encoder (English), select a checkpoint on
dev data only, then score test once, with the selected weights.

The selection protocol (`space.selection`) is the one every decision of a search rests on: this module computes
the value the objective, the scheduler and the searcher see (`TargetResult.dev`). Test scores are computed after
the last evaluation of a target and go only into the trial's summary and prediction files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from raytl.models.task_model import TaskModel
from raytl.pipeline.phases import (
    Progress,
    TargetResult,
    Worker,
    evaluate,
    load_encoder,
    make_engine,
    train_batches,
)
from raytl.pipeline.run_dir import write_atomic
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.labels import with_labels
from raytl.tasks.scoring import task_score
from raytl.training.engine import Engine
from raytl.training.loop import WallClock, fit

Report = Callable[[dict[str, Any], Path | None], None]  # (extra metrics, checkpoint dir)
Languages = dict[str, dict[str, float]]


def train_target(
    worker: Worker, target: str, encoder_dir: Path | None, progress: Progress, checkpoint: Path | None, report: Report
) -> None:
    """Train `target`, keep the weights of its best dev evaluation, score test with them when the phase ends.
    Reports at every evaluation with a checkpoint; with `checkpoint`, continues mid-phase from it."""
    task, phase = with_labels(TASKS[target], worker.space.data), worker.space.target_phase(target)
    fmt, rank = FORMATS[task.format], worker.ranks.rank

    def build() -> TaskModel:
        torch.manual_seed(worker.params.seed)
        encoder = load_encoder(worker, None if checkpoint else encoder_dir)
        return TaskModel(encoder, fmt.head(encoder.config, task))

    batches = train_batches(worker, task, phase)
    total = phase.max_steps or math.ceil(phase.epochs * batches.steps_per_epoch)
    engine = make_engine(worker, build, phase, worker.params.lr_target, total)
    selected: list[torch.Tensor] | None = None  # this rank's share of the dev-selected weights
    if checkpoint is not None:
        engine.load(checkpoint)
        load_rng(checkpoint, rank)
        selected = load_selected(checkpoint, rank)
    else:
        progress.target, progress.step, progress.best = target, 0, TargetResult()
    clock = WallClock(phase.checkpoint_minutes * 60, agree=worker.ranks.broadcast) if phase.checkpoint_minutes else None

    def on_evaluation(step: int, loss: float) -> None:
        nonlocal selected
        dev, dev_languages = select_on_dev(worker, engine, task)
        if dev > progress.best.dev:
            progress.best = TargetResult(dev=dev, step=step, dev_languages=dev_languages)
            selected = engine.snapshot()
            save_best(worker, engine, task)
        progress.step = step
        if step == total:
            if selected is not None and progress.best.step != step:
                engine.restore(selected)
            progress.best.score, progress.best.languages = score_test(worker, engine, task)
            progress.completed[target] = progress.best
            progress.steps_before += total
        with tempfile.TemporaryDirectory(prefix="raytl-ckpt-") as tmp:
            engine.save(Path(tmp), client_state={})
            save_rng(Path(tmp), rank)
            save_selected(Path(tmp), rank, selected)
            if worker.ranks.is_main:
                progress.save(Path(tmp))
            report({"loss": loss, "dev_now": dev, "target_steps": total}, Path(tmp))
        if clock is not None:
            clock.reset()

    fit(engine, batches.from_step(progress.step), fmt.loss, start_step=progress.step, total_steps=total,
        eval_every=phase.eval_every, on_evaluation=on_evaluation, checkpoint_due=clock)


def select_on_dev(worker: Worker, engine: Engine, task: Task) -> tuple[float, Languages]:
    """The selection value of the current weights and the per-language dev metrics it comes from: under
    `en_dev`, English dev's `dev_key`; otherwise the task score over the task's dev languages."""
    languages = task.selection_languages(worker.space.selection)
    results = evaluate(worker, engine, task, "validation", list(languages), worker.space.target_phase(task.name))
    metrics = {lang: values for lang, (values, _, _) in results.items()}
    value = metrics["en"][task.dev_key] if languages == ("en",) else task_score(task.name, metrics)
    return value, metrics


def score_test(worker: Worker, engine: Engine, task: Task) -> tuple[float, Languages]:
    """Test in every language of the target, scored once, for the selected weights: the task score and the
    per-language metrics (reported only), and the predictions in XTREME's submission layout."""
    fmt = FORMATS[task.format]
    results = evaluate(worker, engine, task, "test", list(task.languages), worker.space.target_phase(task.name))
    if worker.ranks.is_main:
        for lang, (_, predictions, examples) in results.items():
            suffix, text = fmt.submission(predictions, examples)
            worker.run.write_text(worker.run.predictions(worker.trial_id) / task.name / f"test-{lang}{suffix}", text)
    languages = {lang: metrics for lang, (metrics, _, _) in results.items()}
    return task_score(task.name, languages), languages


def save_rng(directory: Path, rank: int) -> None:
    """This rank's random state (dropout masks) beside the checkpoint: a resumed phase continues exactly as an
    uninterrupted one would (same data order, optimizer, schedule and dropout)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    torch.save(state, directory / f"rng-rank{rank}.pt")


def load_rng(directory: Path, rank: int) -> None:
    path = directory / f"rng-rank{rank}.pt"
    if not path.is_file():  # a checkpoint written before random states were saved
        return
    state = torch.load(path, weights_only=True)
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_selected(directory: Path, rank: int, selected: list[torch.Tensor] | None) -> None:
    """This rank's share of the dev-selected weights beside the checkpoint, so a resumed trial still scores test
    with the weights it selected before the interruption."""
    if selected is not None:
        torch.save(selected, directory / f"selected-rank{rank}.pt")


def load_selected(directory: Path, rank: int) -> list[torch.Tensor] | None:
    path = directory / f"selected-rank{rank}.pt"
    return torch.load(path, weights_only=True) if path.is_file() else None


def save_best(worker: Worker, engine: Engine, task: Task) -> None:
    """The dev-selected weights, for `raytl export`: `best/TARGET/{encoder/, head.safetensors, head.json}`."""
    encoder, head = engine.state_dict_of("encoder"), engine.state_dict_of("head")  # collective under ZeRO-3
    if not worker.ranks.is_main:
        return
    final = worker.run.trial(worker.trial_id) / "best" / task.name
    tmp = final.with_name(f".tmp-{task.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    engine.ds.module.encoder.save_pretrained(tmp / "encoder", state_dict=encoder)
    save_file({name: tensor.contiguous() for name, tensor in head.items()}, tmp / "head.safetensors")
    write_atomic(tmp / "head.json", json.dumps({"task": task.name, "format": task.format, "labels": task.labels,
                                                "hidden_size": worker.entry.hidden_size}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    worker.run.push(final)
