"""`search.mode: per_target`: the best intermediate task for each target, one study per target in the same run.

The targets' studies run one after the other, each with its own Tuner, its own study (`NAME.TARGET`) in the run's
Optuna storage and its own run directory, RUN_DIR/targets/TARGET/ (a complete run directory: `raytl report` and
`raytl rerun` work on it). They share the run's phase store (RUN_DIR/phases, linked from each target's
directory), so an intermediate encoder trained for one target is reused by every other.

    RUN_DIR/targets/<target>/{space.yaml,tune/,train/,trials/,phases -> ../../phases}
    RUN_DIR/winners.json          the best trial of each target
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from ray import tune

from raytl.config import SearchSpace
from raytl.pipeline.run_dir import RunDir
from raytl.search.first_pass import finalist_space
from raytl.search.halving_rounds import first_pass
from raytl.search.target_study import prepare, target_run
from raytl.search.tuner import (
    METRIC,
    build_tuner,
    restore_tuner,
    results_table,
    set_aside_half_written,
    start_ray,
    study_storage,
)

WINNER_KEYS = ("trial_id", "model", "intermediate", "lr_intermediate", "lr_target", "seed", "objective")


def run_per_target(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Run (or, when its Tune experiment exists, resume) every target's study; write and return the trials, with
    RUN_DIR/winners.json naming the best trial of each target."""
    start_ray(space)
    storage = study_storage(space, run)
    tables: list[pd.DataFrame] = []
    for target in space.targets:  # a resume: each target's study keeps its own Train directory
        set_aside_half_written(space, target_run(run, target))
    finalists = first_pass(space, run, tables) if space.search.first_pass == "halving" else {}
    for target in space.targets:
        sub, sub_run = prepare(space, run, target)
        if target in finalists:  # the study searches the target learning rate of the first pass's finalists
            sub = finalist_space(sub, finalists[target])
        print(f"--- target {target}: study {sub.name}, run directory {sub_run.root}", flush=True)
        if sub_run.exists(sub_run.tune):
            tuner: tune.Tuner = restore_tuner(sub, sub_run)
        else:
            tuner = build_tuner(sub, sub_run, study_name=sub.name, storage=storage,
                                ledger=run.root / "gpu_hours.json")  # one GPU-hour budget for the whole run
        tables.append(results_table(tuner.fit(), sub, sub_run).assign(target=target))
    table = pd.concat(tables, ignore_index=True).drop_duplicates("trial_id", keep="last")  # a rung's trial
    # continued in the next rung keeps its id: its last rung says how it ended
    run.write_json(run.root / "winners.json", winners(table))
    return table


def winners(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The completed trial with the highest objective (its target's score), per target."""
    best: dict[str, dict[str, Any]] = {}
    done = table[(table["status"] == "completed") & table[METRIC].notna()]
    for target, rows in done.groupby("target"):
        row = rows.loc[rows[METRIC].idxmax()]
        best[str(target)] = {key: _plain(row[key]) for key in WINNER_KEYS}
    return best


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
