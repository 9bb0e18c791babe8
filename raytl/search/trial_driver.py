"""The Tune trial function: builds one trial's Ray Train `TorchTrainer` and runs it (Train V2's documented
layering: Tune -> function -> TorchTrainer -> workers)."""

from __future__ import annotations

import os
from typing import Any

import ray.train
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from raytl.config import SearchSpace
from raytl.pipeline.progress import finished_metrics
from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.trial import train_loop_per_worker

DRIVER_RESOURCE = "trial_driver"  # a custom resource, so a trial's driver takes no CPU from its workers


def trial_params(config: dict[str, Any]) -> dict[str, Any]:
    """Tune's config -> `TrialParams` fields (the baseline has no intermediate learning rate)."""
    return {
        "model": config["model"],
        "intermediate": config["intermediate"],
        "lr_intermediate": config.get("lr_intermediate", 0.0),
        "lr_target": config["lr_target"],
        "seed": config["seed"],
    }


def drive_trial(config: dict[str, Any], space: SearchSpace, run: RunDir) -> None:
    """One trial. The inner run is named by trial id (no timestamp), so a restarted trial finds its checkpoints;
    a first-pass rung's trial that `continues` an earlier one takes that trial's id, and so its checkpoints."""
    trial_id = config.get("continues") or tune.get_context().get_trial_id()
    finished = finished_metrics(space, run.read_json(run.summary(trial_id)))
    if finished is not None:  # it finished before a crash kept Tune from recording it: report it, train nothing
        tune.report(finished)
        return
    # Ray Train propagates this from the trial's driver to its controller; its 60 s default fails trials whose
    # workers wait for an autoscaled node, or that start on a loaded machine
    os.environ["RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"] = str(space.resources.worker_startup_timeout_s)
    resources = space.resources
    use_gpu = resources.gpus_per_worker > 0
    per_worker = {"CPU": resources.cpus_per_worker, **({"GPU": resources.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"space": space, "params": trial_params(config), "trial_id": trial_id, "run": run,
                           "until": config.get("until"), "until_fraction": config.get("until_fraction")},
        scaling_config=ray.train.ScalingConfig(
            num_workers=resources.num_workers, use_gpu=use_gpu, resources_per_worker=per_worker
        ),
        run_config=ray.train.RunConfig(
            name=trial_id,
            storage_path=run.uri(run.train),
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=0),  # Tune retries the trial; Train restores
        ),
    )
    trainer.fit()
