"""One trial, read top to bottom. Every Ray Train worker of a trial runs `train_loop_per_worker`:

    resume point -> intermediate phase -> each target (train + dev selection + test once, or retrieval) -> summary

The phases live in modules of their own (`intermediate_phase`, `target_phase`, `retrieval_eval`); `TrialRecord`
(`progress`) owns the trial's progress, its reports to Tune and its summary.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray.train
import torch

from raytl.pipeline.context import RungReached, TrialContext
from raytl.pipeline.intermediate_phase import obtain_intermediate
from raytl.pipeline.phase_id import TrialParams
from raytl.pipeline.progress import TrialRecord
from raytl.pipeline.resume_point import resume_point
from raytl.pipeline.retrieval_eval import evaluate_retrieval
from raytl.pipeline.target_phase import train_target
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.training.distributed import Ranks
from raytl.training.loop import Diverged


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker. `config` holds the space, the trial's params, its id and run dir."""
    context = ray.train.get_context()
    trial = TrialContext(
        space=config["space"],
        params=TrialParams(**config["params"]),
        ranks=Ranks(context.get_world_rank(), context.get_world_size()),
        run=config["run"],
        trial_id=config["trial_id"],
        until=config.get("until"),
        until_fraction=config.get("until_fraction"),
    )
    torch.set_num_threads(max(1, int(trial.space.resources.cpus_per_worker)))
    own = None if trial.run.remote else trial.run.train / trial.trial_id
    record = TrialRecord(trial, send=_send_to_tune, checkpoint=resume_point(trial.ranks, own))
    try:
        run_trial(trial, record)
    except Diverged as exc:
        record.finish(status="diverged", note=str(exc))
    except RungReached:  # reported with its checkpoint; the next rung continues the trial from it
        return


TARGET_PHASES = {"train": train_target, "embed": evaluate_retrieval}
"""A format's declared `target_phase` -> the phase that runs a target of that format."""


def run_trial(trial: TrialContext, record: TrialRecord) -> None:
    """The phases of one trial, from wherever its record says it stopped."""
    pending = record.pending()
    if not pending:  # finished just before a crash that Tune's state did not record: report again, do nothing
        record.report({})
        return
    encoder_dir = obtain_intermediate(trial, on_step=record.first_step)
    for target in pending:
        TARGET_PHASES[FORMATS[TASKS[target].format].target_phase](trial, target, encoder_dir, record)


def _send_to_tune(metrics: dict[str, Any], directory: Path | None) -> None:
    ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory) if directory else None)
