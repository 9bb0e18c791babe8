"""The Ray Train worker function: one trial's phases on every worker, reported to Ray (and so to Tune)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray.train
import torch

from raytl.config import SearchSpace
from raytl.pipeline.phases import Progress, TargetResult, TrialParams, Worker, obtain_intermediate
from raytl.pipeline.retrieval_eval import evaluate_retrieval
from raytl.pipeline.target_phase import train_target
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.training.engine import Ranks
from raytl.training.loop import FIRST_STEP, Diverged


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker. `config` holds the space, the trial's params, its id and run dir."""
    started = time.time()
    FIRST_STEP.clear()
    space: SearchSpace = config["space"]
    context = ray.train.get_context()
    worker = Worker(
        space=space,
        params=TrialParams(**config["params"]),
        ranks=Ranks(context.get_world_rank(), context.get_world_size()),
        run=config["run"],
        trial_id=config["trial_id"],
    )
    torch.set_num_threads(max(1, int(space.resources.cpus_per_worker)))
    progress, checkpoint = _resume_point()
    resumed_at = _resumed_at(worker, progress, checkpoint)
    try:
        _run_phases(worker, progress, checkpoint, resumed_at, started)
    except Diverged as exc:
        _finish(worker, progress, status="diverged", note=str(exc), resumed_at=resumed_at, started=started)


def _resume_point() -> tuple[Progress, Path | None]:
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return Progress(), None
    directory = Path(checkpoint.to_directory())
    return Progress.load(directory), directory


def _resumed_at(worker: Worker, progress: Progress, checkpoint: Path | None) -> list[int]:
    """The steps this trial restarted from checkpoints (after a failure or a resume), earlier restarts included."""
    if checkpoint is None:
        return []
    summary = worker.run.read_json(worker.run.summary(worker.trial_id)) or {}
    earlier = summary.get("resumed_at", [])
    return [*earlier, trial_metrics(worker.space, progress)["step"]]


def _run_phases(worker: Worker, progress: Progress, checkpoint: Path | None, resumed_at: list[int],
                started: float) -> None:
    def report(extra: dict[str, Any], directory: Path | None) -> None:
        metrics = {**trial_metrics(worker.space, progress), **extra}
        if worker.ranks.is_main:
            write_summary(worker, progress, status=metrics["status"], resumed_at=resumed_at,
                          startup=startup_times(started))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory) if directory else None)

    pending = [target for target in worker.space.targets if target not in progress.completed]
    if not pending:  # finished just before a crash that Tune's state did not record: report again, do nothing
        report({}, None)
        return
    encoder_dir = obtain_intermediate(worker)
    for target in pending:
        if FORMATS[TASKS[target].format].target_phase == "embed":  # scored on the encoder's embeddings, untrained
            evaluate_retrieval(worker, target, encoder_dir, progress, report)
            continue
        resume = checkpoint if checkpoint is not None and progress.target == target else None
        train_target(worker, target, encoder_dir, progress, resume, report)


def trial_metrics(space: SearchSpace, progress: Progress) -> dict[str, Any]:
    """What Tune sees, and so the scheduler and the searcher: the objective (the mean dev selection score of the
    targets evaluated so far), the step (the scheduler's time axis) and each target's dev score. Never a test
    score: those go to the summary only."""
    results = _results(progress)
    metrics: dict[str, Any] = {
        "step": progress.steps_before + (0 if progress.target in progress.completed else progress.step),
        "objective": sum(r.dev for r in results.values()) / len(results) if results else math.nan,
        "status": "completed" if len(progress.completed) == len(space.targets) else "running",
        "targets_done": len(progress.completed),
    }
    metrics.update({f"dev:{target}": result.dev for target, result in results.items()})
    return metrics


def _results(progress: Progress) -> dict[str, TargetResult]:
    """The finished targets and the current target's best evaluation so far."""
    results = dict(progress.completed)
    if progress.target and progress.target not in results and progress.best.dev_languages:
        results[progress.target] = progress.best
    return results


def write_summary(worker: Worker, progress: Progress, status: str, note: str = "", resumed_at: list[int] | None = None,
                  startup: dict[str, float] | None = None) -> None:
    """`RUN_DIR/trials/<id>/summary.json`, the contract `raytl report` reads (see raytl/report/results.py). Per
    target: `dev` (the selection score, under the `selection` protocol, with `dev_languages` and the
    `selected_step`) and `score`/`languages` (test, for the selected checkpoint; NaN until the target is
    finished). `resumed_at` lists the steps the trial restarted from checkpoints; `startup` is `startup_times`."""
    params, metrics = worker.params, trial_metrics(worker.space, progress)
    worker.run.write_json(worker.run.summary(worker.trial_id), {
        "trial_id": worker.trial_id,
        "status": status,
        "note": note,
        "resumed_at": resumed_at or [],
        "startup": startup or {},
        "config": asdict(params),
        "model_params": worker.entry.params,
        "intermediate_group": intermediate_group(worker.space, params.intermediate),
        "selection": worker.space.selection,
        "step": metrics["step"],
        "objective": metrics["objective"],
        "targets": {
            target: {"dev": r.dev, "selected_step": r.step, "dev_languages": r.dev_languages,
                     "score": r.score, "metric": TASKS[target].metric, "languages": r.languages}
            for target, r in _results(progress).items()
        },
    })


def startup_times(started: float) -> dict[str, float]:
    """This attempt's start-up on this worker: when its function began and its first optimizer step ended
    (`time.time()`, comparable with other processes' on the same machine), and the seconds between."""
    if "at" not in FIRST_STEP:
        return {"worker_started_at": started}
    return {"worker_started_at": started, "first_step_at": FIRST_STEP["at"],
            "first_step_s": round(FIRST_STEP["at"] - started, 3)}


def intermediate_group(space: SearchSpace, name: str) -> str:
    """The complexity group reports use: the task's, "mixture" for a mixture, "baseline" for none."""
    if name in space.mixtures:
        return "mixture"
    return TASKS[name].group if name in TASKS else "baseline"


def _finish(worker: Worker, progress: Progress, status: str, note: str, resumed_at: list[int], started: float
            ) -> None:
    if worker.ranks.is_main:
        write_summary(worker, progress, status=status, note=note, resumed_at=resumed_at,
                      startup=startup_times(started))
    ray.train.report({**trial_metrics(worker.space, progress), "status": status, "objective": math.nan})
