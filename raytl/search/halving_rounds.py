"""The first pass of a real per-target run (`search.first_pass: halving`): each rung of each (model, target) is
one Tune experiment in the target's run directory, `targets/TARGET/first-pass-MODEL-rungN/`. A trial of a later
rung continues the candidate's trial of the rung before (`continues`): the same trial id, so the same Train run,
checkpoints and record, and it trains on from its last evaluation. A trial ends itself after the evaluation at
its rung's step (`until`, or `until_fraction` of its phase: `TrialContext.rung_reached`), which it reported with
its checkpoint: a scheduler's stop would land a few steps late, after the workers trained on.

When a rung ends, its measurements go to `targets/TARGET/first_pass.json`, so `raytl resume` replays finished
rungs from there and restores an interrupted rung's experiment (finished trials kept, the rest resumed).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from raytl.config import SearchSpace
from raytl.pipeline.run_dir import RunDir
from raytl.search.first_pass import Measurement, RunRound, point_keys, run_first_pass
from raytl.search.prior import search_prior
from raytl.search.progress import ProgressPrinter
from raytl.search.target_study import prepare
from raytl.search.tuner import METRIC, MODE, budget_stopper, results_table, tune_function


def real_round(space: SearchSpace, run: RunDir, tables: list[pd.DataFrame]) -> RunRound:
    """A `RunRound` of training trials; every rung's trial table is added to `tables` (with its target)."""

    def run_round(model: str, target: str, number: int, configs: list[dict[str, Any]]) -> list[Measurement]:
        sub, sub_run = prepare(space, run, target)
        ledger, key = sub_run.root / "first_pass.json", f"{model}/rung{number}"
        done = sub_run.read_json(ledger) or {}
        name = f"first-pass-{model}-rung{number}"
        if key in done:  # its trials' rows from the finished experiment; nothing runs
            print(f"--- {target}: {name} finished earlier ({len(done[key])} trials)", flush=True)
            finished = tune.Tuner.restore(sub_run.uri(sub_run.root / name), trainable=tune_function(sub, sub_run))
            tables.append(results_table(finished.get_results(), sub, sub_run).assign(target=target))
            return [Measurement(**measured) for measured in done[key]]
        grid = _tuner(sub, sub_run, name, configs, run.root / "gpu_hours.json").fit()
        tables.append(results_table(grid, sub, sub_run).assign(target=target))
        measured = [_measurement(result, target) for result in grid]
        sub_run.write_json(ledger, {**done, key: [asdict(m) for m in measured]})
        return measured

    return run_round


def _tuner(space: SearchSpace, run: RunDir, name: str, configs: list[dict[str, Any]], ledger: Path) -> tune.Tuner:
    """The rung's Tuner: every config once, stopped at its `until`; restored when the rung was interrupted."""
    if run.exists(run.root / name):
        return tune.Tuner.restore(run.uri(run.root / name), trainable=tune_function(space, run),
                                  resume_unfinished=True, resume_errored=True)
    return tune.Tuner(
        tune_function(space, run),
        param_space=point_keys(configs),
        tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=len(configs),
                                    search_alg=BasicVariantGenerator(
                                        points_to_evaluate=configs,
                                        max_concurrent=space.search.max_concurrent_trials)),
        run_config=tune.RunConfig(
            name=name, storage_path=run.location, verbose=0,
            failure_config=tune.FailureConfig(max_failures=space.search.max_failures),
            stop=budget_stopper(space, ledger),
            callbacks=[ProgressPrinter(METRIC)],
        ),
    )


def _measurement(result: tune.Result, target: str) -> Measurement:
    """A rung trial's standing; one that failed or reported nothing ranks last (step 0, score -inf)."""
    metrics, config = result.metrics or {}, result.config
    lineage = config.get("continues") or metrics.get("trial_id") or Path(result.path).name
    score = metrics.get(f"dev:{target}")
    return Measurement(lineage, config["model"], config["intermediate"], int(metrics.get("step", 0)),
                       float(score) if score is not None and math.isfinite(score) else -math.inf)


def first_pass(space: SearchSpace, run: RunDir, tables: list[pd.DataFrame]) -> dict[str, list[str]]:
    """The first pass of every target (its rungs' trial tables added to `tables`): each target's finalists."""
    passed = run_first_pass(space, search_prior(space, run), real_round(space, run, tables))
    return {target: passed.finalists(target, space.search.finalists) for target in space.targets}
