"""Experiment-tracking callbacks for the Tuner (MLflow, Weights & Biases), checked before Ray starts."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from raytl.config import TrackingConfig
from raytl.errors import InputError

if TYPE_CHECKING:  # light at import: `raytl plan` checks trackers before anything heavy loads
    from ray.tune import Callback


def check_tracking(tracking: TrackingConfig, file: str) -> None:
    """A tracker named in the YAML must be installed: one clear error at the edge, not a failure mid-search."""
    for key, package, extra in (("mlflow_experiment", "mlflow", "mlflow"), ("wandb_project", "wandb", "wandb")):
        if getattr(tracking, key) and importlib.util.find_spec(package) is None:
            raise InputError(f"{file}: tracking.{key}: the '{package}' package is not installed; allowed: "
                             f"`pip install {extra}`, or remove the key")


def tracking_callbacks(tracking: TrackingConfig, run_name: str) -> list[Callback]:
    callbacks: list[Callback] = []
    if tracking.mlflow_experiment:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        callbacks.append(MLflowLoggerCallback(tracking_uri=tracking.mlflow_tracking_uri,
                                              experiment_name=tracking.mlflow_experiment, save_artifact=False,
                                              tags={"raytl_run": run_name}))
    if tracking.wandb_project:
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks.append(WandbLoggerCallback(project=tracking.wandb_project, group=tracking.wandb_group or run_name))
    return callbacks
