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
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file

from raytl.models.task_model import TaskModel
from raytl.pipeline.context import RungReached, TrialContext, evaluate, load_encoder, make_engine, train_batches
from raytl.pipeline.progress import Languages, TrialRecord
from raytl.pipeline.run_dir import write_atomic
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.labels import with_labels
from raytl.tasks.scoring import task_score
from raytl.training.engine import Engine
from raytl.training.loop import WallClock, fit


def train_target(trial: TrialContext, target: str, encoder_dir: Path | None, record: TrialRecord) -> None:
    """Train `target`, keep the weights of its best dev evaluation, score test with them when the phase ends.
    Reports every evaluation with a checkpoint; continues mid-phase when the trial stopped inside this target."""
    task, phase = with_labels(TASKS[target], trial.space.data), trial.space.target_phase(target)
    fmt, checkpoint = FORMATS[task.format], record.resume_from(target)

    def build() -> TaskModel:
        torch.manual_seed(trial.params.seed)
        encoder = load_encoder(trial, None if checkpoint else encoder_dir)
        return TaskModel(encoder, fmt.head(encoder.config, task))

    batches = train_batches(trial, task, phase)
    total = phase.max_steps or math.ceil(phase.epochs * batches.steps_per_epoch)
    engine = make_engine(trial, build, phase, trial.params.lr_target, total)
    selected: list[torch.Tensor] | None = None  # this rank's share of the dev-selected weights
    if checkpoint is not None:
        selected = engine.load(checkpoint)
    else:
        record.start_target(target)
    clock = WallClock(phase.checkpoint_minutes * 60, agree=trial.ranks.broadcast) if phase.checkpoint_minutes else None

    def on_evaluation(step: int, loss: float) -> None:
        nonlocal selected
        dev, dev_languages = select_on_dev(trial, engine, task)
        if record.evaluated(step, dev, dev_languages):
            selected = engine.snapshot()
            save_best(trial, engine, task)
        if step == total:
            if selected is not None and record.best.step != step:
                engine.restore(selected)
            score, languages = score_test(trial, engine, task)
            record.finish_target(target, replace(record.best, score=score, languages=languages), steps=total)
        with tempfile.TemporaryDirectory(prefix="raytl-ckpt-") as tmp:
            engine.save(Path(tmp), selected=selected, files=record.checkpoint_files())
            record.report({"loss": loss, "dev_now": dev, "target_steps": total}, Path(tmp))
        if clock is not None:
            clock.reset()
        if trial.rung_reached(step, total):
            raise RungReached(step)

    fit(engine, batches.from_step(record.step), fmt.loss, start_step=record.step,
        total_steps=total, eval_every=phase.eval_every, on_evaluation=on_evaluation, checkpoint_due=clock,
        on_step=record.first_step)


def select_on_dev(trial: TrialContext, engine: Engine, task: Task) -> tuple[float, Languages]:
    """The selection value of the current weights and the per-language dev metrics it comes from: under
    `en_dev`, English dev's `dev_key`; otherwise the task score over the task's dev languages."""
    languages = task.selection_languages(trial.space.selection)
    results = evaluate(trial, engine, task, "validation", list(languages), trial.space.target_phase(task.name))
    metrics = {lang: values for lang, (values, _, _) in results.items()}
    value = metrics["en"][task.dev_key] if languages == ("en",) else task_score(task.name, metrics)
    return value, metrics


def score_test(trial: TrialContext, engine: Engine, task: Task) -> tuple[float, Languages]:
    """Test in every language of the target, scored once, for the selected weights: the task score and the
    per-language metrics (reported only), and the predictions in XTREME's submission layout."""
    fmt = FORMATS[task.format]
    results = evaluate(trial, engine, task, "test", list(task.languages), trial.space.target_phase(task.name))
    if trial.ranks.is_main:
        for lang, (_, predictions, examples) in results.items():
            suffix, text = fmt.submission(predictions, examples)
            trial.run.write_text(trial.run.predictions(trial.trial_id) / task.name / f"test-{lang}{suffix}", text)
    languages = {lang: metrics for lang, (metrics, _, _) in results.items()}
    return task_score(task.name, languages), languages


def save_best(trial: TrialContext, engine: Engine, task: Task) -> None:
    """The dev-selected weights, for `raytl export`: `best/TARGET/{encoder/, head.safetensors, head.json}`."""
    write_encoder, head = engine.submodule_writer("encoder"), engine.state_dict_of("head")  # collective
    if not trial.ranks.is_main:
        return
    final = trial.run.trial(trial.trial_id) / "best" / task.name
    tmp = final.with_name(f".tmp-{task.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_encoder(tmp / "encoder")
    save_file({name: tensor.contiguous() for name, tensor in head.items()}, tmp / "head.safetensors")
    write_atomic(tmp / "head.json", json.dumps({"task": task.name, "format": task.format, "labels": task.labels,
                                                "hidden_size": trial.entry.hidden_size}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    trial.run.push(final)
