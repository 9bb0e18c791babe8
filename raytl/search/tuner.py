"""Start, run and resume a search: Ray (local, started here, unless an address is given), the Tuner, results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from raytl.config import SearchSpace
from raytl.pipeline.run_dir import RunDir, write_json
from raytl.search.optuna_searcher import TransferSearch, rdb_storage
from raytl.search.progress import ProgressPrinter
from raytl.search.space import sampler, search_function
from raytl.search.trainable import DRIVER_RESOURCE, run_trial, trial_params

METRIC, MODE = "objective", "max"
MAX_STEPS = 10**9  # ASHA's horizon: trials end on their own step budget long before this


def start_ray(space: SearchSpace) -> None:
    """Join the cluster in RAY_ADDRESS, or start a local Ray with the dashboard bound to localhost."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # ray.train.report waits on this poll
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(resources={DRIVER_RESOURCE: 1000}, dashboard_host="127.0.0.1", log_to_driver=False)


def scheduler(space: SearchSpace) -> tune.schedulers.TrialScheduler:
    config = space.scheduler
    if config.type == "none":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="step",  # reported target-phase steps: survive a resume, unlike training_iteration
        max_t=MAX_STEPS,
        grace_period=config.grace_period * space.target.eval_every,
        reduction_factor=config.reduction_factor,
    )


def build_tuner(space: SearchSpace, run: RunDir) -> tune.Tuner:
    searcher = TransferSearch(
        space=search_function(space),
        metric=METRIC,
        mode=MODE,
        sampler=sampler(space),
        points_to_evaluate=space.search.points_to_evaluate or None,
        study_name=space.name,
        storage=rdb_storage(space.search.storage or f"sqlite:///{run.optuna_db}"),
    )
    return tune.Tuner(
        trainable_for(space, run),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            search_alg=searcher,
            scheduler=scheduler(space),
            num_samples=space.search.num_trials,
            max_concurrent_trials=space.search.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=run.tune.name,
            storage_path=str(run.root),
            failure_config=tune.FailureConfig(max_failures=space.search.max_failures),
            callbacks=[ProgressPrinter(METRIC)],
            verbose=0,
        ),
    )


def trainable_for(space: SearchSpace, run: RunDir):
    """The Tune trainable: the trial function with its constants, its driver on the small custom resource."""
    return tune.with_resources(
        tune.with_parameters(run_trial, space=space, run_dir=str(run.root)), {DRIVER_RESOURCE: 1}
    )


def run_search(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Run the whole search and return one row per trial."""
    start_ray(space)
    grid = build_tuner(space, run).fit()
    return results_table(grid, space, run)


def resume_search(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Continue a search whose driver died: finished trials are kept, unfinished ones resume from their last
    checkpoint, errored ones are retried."""
    start_ray(space)
    tuner = tune.Tuner.restore(
        str(run.tune), trainable=trainable_for(space, run), resume_unfinished=True, resume_errored=True
    )
    return results_table(tuner.fit(), space, run)


def results_table(grid: tune.ResultGrid, space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """One row per trial; trials the scheduler stopped or that errored get that status in their summary too."""
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        status = "failed" if result.error else metrics.get("status", "failed")
        if status == "running":  # ended without finishing its targets: the scheduler stopped it
            status = "stopped"
        mark_status(run, trial_id, status)
        row = {"trial_id": trial_id, **trial_params(result.config), "status": status}
        row.update({f"score:{t}": metrics.get(f"score:{t}") for t in space.targets})
        row["objective"] = metrics.get(METRIC)
        rows.append(row)
    return pd.DataFrame(rows)


def mark_status(run: RunDir, trial_id: str, status: str) -> None:
    path = run.summary(trial_id)
    if path.is_file():
        summary = json.loads(path.read_text())
        if summary["status"] != status and summary["status"] in ("running", "completed"):
            write_json(path, {**summary, "status": status})
