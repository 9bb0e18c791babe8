"""Start, run and resume a search: Ray (local, started here, unless an address is given), the Tuner, results."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import ray
from ray import tune
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler

from raytl.config import SearchSpace
from raytl.pipeline.progress import mark_status
from raytl.pipeline.resume_point import quarantine_unregistered
from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.storage_checks import check_multinode
from raytl.search import tune_state
from raytl.search.budget import GpuHourStopper
from raytl.search.optuna_searcher import TransferSearch, rdb_storage
from raytl.search.progress import ProgressPrinter
from raytl.search.space import num_trials, points_to_evaluate, sampler, search_function
from raytl.search.storage_full import NoSpaceWatch
from raytl.search.tracking import tracking_callbacks
from raytl.search.trial_driver import DRIVER_RESOURCE, drive_trial, trial_params

METRIC, MODE = "objective", "max"
MAX_STEPS = 10**9  # the scheduler's horizon when a trial's length is in epochs: trials end on their own budget


def start_ray(space: SearchSpace) -> None:
    """Join the cluster in RAY_ADDRESS, or start a local Ray with the dashboard bound to localhost."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # ray.train.report waits on this poll
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
        nodes = sum(node["Alive"] for node in ray.nodes())
        check_multinode(space.storage, nodes, file="the search space", key_path="storage")
    else:
        context = ray.init(resources={DRIVER_RESOURCE: 1000}, dashboard_host="127.0.0.1", log_to_driver=False)
        if context.dashboard_url:  # Ray's own line saying so goes to the run's log (raytl.search.console)
            print(f"Ray: started a local instance, dashboard at http://{context.dashboard_url}", flush=True)


def scheduler(space: SearchSpace) -> tune.schedulers.TrialScheduler:
    """ASHA, or asynchronous Hyperband (several ASHA brackets), over reported target-phase steps; FIFO for none."""
    config = space.scheduler
    if config.type == "none":
        return FIFOScheduler()
    return AsyncHyperBandScheduler(
        time_attr="step",  # reported target-phase steps: survive a resume, unlike training_iteration
        max_t=horizon(space),
        grace_period=config.grace_period * space.target.eval_every,
        reduction_factor=config.reduction_factor,
        brackets=config.brackets if config.type == "hyperband" else 1,
    )


def horizon(space: SearchSpace) -> int:
    """The scheduler's max_t: `scheduler.max_t`, else the targets' summed max_steps when all set it."""
    if space.scheduler.type != "none" and space.scheduler.max_t:
        return space.scheduler.max_t
    steps = [space.target_phase(target).max_steps for target in space.targets]
    return sum(steps) if all(steps) else MAX_STEPS  # type: ignore[arg-type]


def study_storage(space: SearchSpace, run: RunDir) -> str:
    """The Optuna storage URL: `search.study_storage`, else SQLite in the run directory."""
    return space.search.study_storage or f"sqlite:///{run.optuna_db}"


def build_tuner(space: SearchSpace, run: RunDir, study_name: str | None = None, storage: str | None = None,
                ledger: Path | None = None) -> tune.Tuner:
    """The Tuner of one study: `study_name` (default the space's name) in `storage` (default `study_storage`);
    `ledger`: the GPU-hour tally (default RUN_DIR/gpu_hours.json; per-target studies share their run's)."""
    ledger = ledger or run.root / "gpu_hours.json"
    searcher = TransferSearch(
        space=search_function(space),
        metric=METRIC,
        mode=MODE,
        sampler=sampler(space),
        points_to_evaluate=points_to_evaluate(space) or None,
        study_name=study_name or space.name,
        storage=rdb_storage(storage or study_storage(space, run)),
    )
    return tune.Tuner(
        tune_function(space, run),
        tune_config=tune_config(space, searcher),
        run_config=tune.RunConfig(
            name=run.tune.name,
            storage_path=run.location,
            failure_config=tune.FailureConfig(max_failures=space.search.max_failures),
            stop=budget_stopper(space, ledger),
            callbacks=[ProgressPrinter(METRIC), NoSpaceWatch(str(run.location)),
                       *tracking_callbacks(space.tracking, space.name),
                       *driver_state_upload(run, storage or study_storage(space, run), ledger)],
            verbose=0,
        ),
    )


def driver_state_upload(run: RunDir, study: str, ledger: Path) -> list[tune.Callback]:
    """For a run on an object store: upload the SQLite study (when the study is one under the run) and the ledger."""
    owner = run.store_of or run  # per-target studies keep both in the run that holds them
    if not owner.remote:
        return []
    from raytl.search.mirror import UploadDriverState

    sqlite = Path(study.removeprefix("sqlite:///"))
    paths = [ledger, *([sqlite] if study.startswith("sqlite:///") and sqlite.is_relative_to(owner.root) else [])]
    return [UploadDriverState(owner, paths)]


def tune_config(space: SearchSpace, searcher: TransferSearch) -> tune.TuneConfig:
    """Metric, searcher, scheduler, trial count and the wall-clock budget of one study."""
    return tune.TuneConfig(
        metric=METRIC,
        mode=MODE,
        search_alg=searcher,
        scheduler=scheduler(space),
        num_samples=num_trials(space),
        max_concurrent_trials=space.search.max_concurrent_trials,
        time_budget_s=space.search.time_budget_s,
    )


def budget_stopper(space: SearchSpace, ledger: Path) -> GpuHourStopper | None:
    """The GPU-hour stopper when `search.gpu_hours` is set."""
    if space.search.gpu_hours is None:
        return None
    gpus = space.resources.num_workers * space.resources.gpus_per_worker
    return GpuHourStopper(space.search.gpu_hours, gpus, ledger)


def tune_function(space: SearchSpace, run: RunDir):
    """The Tune trainable: the trial function with its constants, its driver on the small custom resource."""
    return tune.with_resources(
        tune.with_parameters(drive_trial, space=space, run=run), {DRIVER_RESOURCE: 1}
    )


def run_joint_study(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Run the whole search and return one row per trial."""
    run.root.mkdir(parents=True, exist_ok=True)  # the Optuna SQLite file lives there (or in the mirror)
    start_ray(space)
    grid = build_tuner(space, run).fit()
    return results_table(grid, space, run)


def resume_joint_study(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Continue a search whose driver died: finished trials are kept, unfinished ones resume from their last
    checkpoint, errored ones are retried."""
    set_aside_half_written(space, run)
    start_ray(space)
    return results_table(restore_tuner(space, run).fit(), space, run)


def set_aside_half_written(space: SearchSpace, run: RunDir) -> None:
    """Before a resume, while no trial is live: what a crash or a full disk left half-written in the run's Train
    directory (checkpoints never registered, an unreadable registration record) goes aside, never read again, and
    a damaged Tune state file is replaced by its intact copy (`tune_state`)."""
    if not run.remote:
        for moved in quarantine_unregistered(run.train, space.resources.num_workers):
            print(f"raytl: moved aside, half-written and never registered: {moved}")
        for replaced in tune_state.repair(run.tune) if run.tune.is_dir() else []:
            print(f"raytl: Tune's state file was damaged; put back its intact copy from Ray's session: {replaced}")


def restore_tuner(space: SearchSpace, run: RunDir) -> tune.Tuner:
    """The Tuner of an interrupted study: finished trials kept, unfinished resumed, errored retried."""
    return tune.Tuner.restore(
        run.uri(run.tune), trainable=tune_function(space, run), resume_unfinished=True, resume_errored=True
    )


def results_table(grid: tune.ResultGrid, space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """One row per trial: its dev objective and, read from its summary (Tune never sees them), the test task scores
    of its selected checkpoints. Trials the scheduler stopped or that errored get that status in their summary too."""
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        trial_id = result.config.get("continues") or metrics.get("trial_id") or Path(result.path).name
        status = "failed" if result.error else metrics.get("status", "failed")
        if status == "running":  # ended without finishing its targets: the scheduler stopped it
            status = "stopped"
        mark_status(run, trial_id, status)
        tested = (run.read_json(run.summary(trial_id)) or {}).get("targets", {})
        row = {"trial_id": trial_id, **trial_params(result.config), "status": status}
        row.update({f"test:{t}": tested.get(t, {}).get("score") for t in space.targets})
        row["objective"] = metrics.get(METRIC)
        rows.append(row)
    return pd.DataFrame(rows)

