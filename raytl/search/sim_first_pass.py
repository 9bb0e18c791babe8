"""`raytl simulate` with `search.first_pass: halving`: the first pass's rungs as Tune runs of simulated trials, and
the prior read from the transfer table's `prior` column (whatever `search.prior` names: a simulation has no data
to embed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.search.first_pass import Prior, RunRound, catalogue_prior, measurements, point_keys
from raytl.search.sim_table import TransferTable
from raytl.search.target_study import target_space
from raytl.search.trial_driver import DRIVER_RESOURCE


def table_prior(space: SearchSpace, table: TransferTable) -> Prior:
    """Per model and target, the trained intermediate tasks by the table's `prior`, best first."""
    if space.search.prior == "none":
        return catalogue_prior(space)
    trained = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    lacking = [(m, i, t) for m in space.models for i in trained for t in space.targets
               if table.cell(m, i, t).prior is None]
    if lacking:
        raise InputError(f"search.prior: {space.search.prior}: the table has no prior for {len(lacking)} row(s), "
                         f"e.g. {' / '.join(lacking[0])}; allowed: a `prior` column on every trained row, or "
                         "prior: none")

    def order(model: str, target: str) -> list[str]:
        return sorted(trained, key=lambda task: -(table.cell(model, task, target).prior or 0.0))

    return {model: {target: order(model, target) for target in space.targets} for model in space.models}


def simulated_round(space: SearchSpace, trainable: Any, recorder_of: Any, events: list, root: Path) -> RunRound:
    """A `RunRound` whose trials read the table: one Tune run per rung, every config a point of its own.
    `trainable(study)` builds the study's simulated trainable, `recorder_of(study)` its recording callback, whose
    events are added to `events`."""

    def run_round(model: str, target: str, number: int, configs: list[dict[str, Any]]) -> list:
        study = target_space(space, target)
        recorder = recorder_of(study)
        tune.Tuner(
            tune.with_resources(trainable(study), {DRIVER_RESOURCE: 1}),  # no CPU: many at once
            param_space=point_keys(configs),
            tune_config=tune.TuneConfig(search_alg=BasicVariantGenerator(points_to_evaluate=configs),
                                        num_samples=len(configs), reuse_actors=True,
                                        max_concurrent_trials=space.search.max_concurrent_trials),
            run_config=tune.RunConfig(name=f"first-pass-{target}-{model}-rung{number}", storage_path=str(root),
                                      callbacks=[recorder], verbose=0),
        ).fit()
        events.extend(recorder.events)
        last: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        for event in recorder.events:
            last[event.trial_id] = (event.trial_id, event.config, {"step": event.step,
                                                                   **{f"dev:{t}": s for t, s in event.scores.items()}})
        return measurements(list(last.values()), target)

    return run_round
