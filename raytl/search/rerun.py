"""`raytl rerun RUN_DIR --trial ID --seeds 1 2 3`: a promoted configuration again with more seeds.

The seeds run as ordinary trials of the same run (RUN_DIR/trials/, the same phase store: a new seed trains its own
intermediate encoder, since the seed is part of a phase's identity), through a Tune grid over the missing seeds.
Seeds that a completed trial of the same configuration already has (the promoted trial itself, earlier reruns)
are not run again. The result, mean and spread per target and of the objective, goes to RUN_DIR/reruns/ID.json.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from ray import tune

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.pipeline.run_dir import RunDir
from raytl.search.tuner import METRIC, MODE, results_table, start_ray, tune_function

SAME = ("model", "intermediate", "lr_intermediate", "lr_target")  # what makes two trials one configuration


def rerun(space: SearchSpace, run: RunDir, trial_id: str, seeds: list[int]) -> dict[str, Any]:
    """Run the seeds the configuration of `trial_id` lacks; return (and write) mean and spread over `seeds`."""
    config = _config_of(run, trial_id)
    missing = [seed for seed in seeds if seed not in seed_trials(run, config)]
    if missing:
        start_ray(space)
        tuner = tune.Tuner(
            tune_function(space, run),
            param_space=_point(config, missing),
            tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=1,
                                        max_concurrent_trials=space.search.max_concurrent_trials),
            run_config=tune.RunConfig(name=f"rerun-{trial_id}-seeds-{'-'.join(map(str, missing))}",
                                      storage_path=run.location,
                                      failure_config=tune.FailureConfig(max_failures=space.search.max_failures),
                                      verbose=0),
        )
        results_table(tuner.fit(), space, run)
        run.pull()
    found = seed_trials(run, config)
    report = spread(trial_id, config, {seed: found[seed] for seed in seeds if seed in found}, space.targets)
    report["failed_seeds"] = [seed for seed in seeds if seed not in found]
    run.write_json(run.root / "reruns" / f"{trial_id}.json", report)
    return report


def _config_of(run: RunDir, trial_id: str) -> dict[str, Any]:
    summary = run.read_json(run.summary(trial_id))
    if summary is None:
        raise InputError(f"--trial: no trial {trial_id} in {run.location} (no {run.summary(trial_id)}); allowed: a "
                         f"directory name under {run.root / 'trials'}")
    return summary["config"]


def _point(config: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    point = {key: config[key] for key in SAME}
    if point["intermediate"] == NO_INTERMEDIATE:
        del point["lr_intermediate"]
    return {**point, "seed": tune.grid_search(seeds)}


def seed_trials(run: RunDir, config: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Completed trials of the run with `config` (any seed), one summary per seed."""
    found: dict[int, dict[str, Any]] = {}
    for path in sorted((run.root / "trials").glob("*/summary.json")):
        summary = json.loads(path.read_text())
        other = summary["config"]
        if summary["status"] == "completed" and all(other[key] == config[key] for key in SAME):
            found.setdefault(int(other["seed"]), summary)
    return found


def spread(trial_id: str, config: dict[str, Any], by_seed: dict[int, dict[str, Any]], targets: list[str]
           ) -> dict[str, Any]:
    """Mean, standard deviation (n-1), min and max of the objective and of every target's score over seeds."""
    return {
        "trial_id": trial_id,
        "config": {key: config[key] for key in SAME},
        "seeds": {str(seed): {"trial_id": s["trial_id"], METRIC: s[METRIC],
                              **{t: s["targets"][t]["score"] for t in targets}} for seed, s in by_seed.items()},
        METRIC: _stats([s[METRIC] for s in by_seed.values()]),
        "targets": {t: _stats([s["targets"][t]["score"] for s in by_seed.values()]) for t in targets},
    }


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}
