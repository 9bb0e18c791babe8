"""`raytl simulate` with `search.first_pass: halving`: the first pass's rungs with simulated trials, and the prior
read from the transfer table's `prior` column (whatever `search.prior` names: a simulation has no data to embed).

A rung holds no searcher and no scheduler (its configs and its stopping step are given), so its simulated trials
run in the driver, one after the other, through the same `simulated_trial` a Tune actor runs: a Tune run per rung
would cost seconds of actor start-up for microseconds of table reading. The study after the first pass runs in
Tune, as every study does.
"""

from __future__ import annotations

from typing import Any

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.search.first_pass import Measurement, Prior, RunRound, catalogue_prior
from raytl.search.sim_table import TransferTable
from raytl.search.sim_trial import TrialPlan, simulated_trial
from raytl.search.target_study import target_space


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


def simulated_round(space: SearchSpace, table: TransferTable, plan_of: Any, event: Any, events: list) -> RunRound:
    """A `RunRound` of simulated trials. `plan_of(study)` is the study's `TrialPlan`; `event(lineage, config,
    targets, metrics)` turns one report into the `Event` added to `events`."""

    def run_round(model: str, target: str, number: int, configs: list[dict[str, Any]]) -> list[Measurement]:
        study = target_space(space, target)
        plan: TrialPlan = plan_of(study)
        measured = []
        for config in configs:
            lineage = config.get("continues") or f"first-pass-{model}-{target}-{config['intermediate']}"
            reports: list[dict[str, Any]] = []
            simulated_trial(config, plan, table, send=reports.append)
            events.extend(event(lineage, config, study.targets, metrics) for metrics in reports)
            last = reports[-1]
            measured.append(Measurement(lineage, model, config["intermediate"], int(last["step"]),
                                        float(last[f"dev:{target}"])))
        return measured

    return run_round
