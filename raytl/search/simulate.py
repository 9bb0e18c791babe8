"""`raytl simulate SPACE.yaml --table FILE`: the search as configured (Ray Tune, Optuna through `TransferSearch`,
the space's scheduler), with trials that read a transfer table instead of training (`sim_trial.py`).

Researchers use it to choose a scheduler and a budget before spending GPU-hours; tests use it to check the search
layer in seconds. Costs are counted in optimizer steps, as the phase store shares them: an intermediate phase's
steps once per distinct (model, intermediate task, learning rate, seed), a target phase's steps as far as each
trial got; and in training FLOPs, each step priced by its model and phase as `raytl plan` prices it
(`sim_cost.py`). The per-target incumbent is the trial with the best reported `score:TARGET` among trials that finished
that target; the truth is the table's best (model, intermediate task) per target at default learning rates.

In Python (Ray starts): `results = simulate(space, TransferTable.load("transfer.csv"), seeds=5)`, then
`print(format_report(space, results))`.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.search.compute_plan import flops_gpu_hours, mfu_source
from raytl.search.first_pass import finalist_space, run_first_pass
from raytl.search.optuna_searcher import TransferSearch
from raytl.search.sim_cost import StepPrices, grid_flops, step_prices
from raytl.search.sim_first_pass import simulated_round, table_prior
from raytl.search.sim_table import TransferTable
from raytl.search.sim_trial import TargetPlan, TrialPlan, simulated_trial
from raytl.search.space import points_to_evaluate, sampler, search_function
from raytl.search.target_study import target_space
from raytl.search.trial_driver import DRIVER_RESOURCE
from raytl.search.tuner import METRIC, MODE, start_ray, tune_config
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS


@dataclass
class Event:
    """One reported evaluation, in the order the driver received it."""

    trial_id: str
    config: dict[str, Any]
    step: int
    finished: tuple[str, ...]  # the trial's targets whose phase has ended
    targets: tuple[str, ...]  # all the trial's targets (its study's)
    scores: dict[str, float]


@dataclass
class Incumbent:
    steps: int
    target: str
    intermediate: str
    model: str
    score: float


@dataclass
class SimResult:
    """One simulated search: when per-target incumbents changed, steps spent, and when all were right."""

    seed: int
    truth: dict[str, str]
    changes: list[Incumbent] = field(default_factory=list)
    steps: int = 0
    found_at: int | None = None  # steps after which every target's incumbent stayed the truth
    flops: float = 0.0  # `steps`, each priced by its model and phase
    found_at_flops: float | None = None  # the FLOPs spent at `found_at`
    trials: int = 0
    intermediate_steps: int = 0  # the part of `steps` spent on intermediate phases
    intermediate_phases: int = 0  # distinct intermediate trainings paid (model, task, learning rate, seed)
    optuna_states: dict[str, int] = field(default_factory=dict)  # how the trials reached Optuna (all studies)
    stopped: int = 0  # trials whose last report was not `completed` (stopped by the scheduler)
    truth_trials: dict[str, list[int]] = field(default_factory=dict)  # target -> [trials of its best task that
    # reported on it, trials of it that finished it]


class Recorder(tune.Callback):
    """Keeps every result the driver receives (Tune callbacks run in the driver process)."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.events: list[Event] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.events.append(event(trial.trial_id, dict(trial.config), self.targets, result))


def event(trial_id: str, config: dict[str, Any], targets: list[str], result: dict[str, Any]) -> Event:
    """One report of a trial of a study over `targets`, as the driver received it."""
    done = int(result.get("targets_done", 0))
    scores = {t: float(result[f"dev:{t}"]) for t in targets if f"dev:{t}" in result}
    return Event(trial_id, config, int(result["step"]), tuple(targets[:done]), tuple(targets), scores)


def check_simulable(space: SearchSpace, table: TransferTable) -> None:
    """Every phase needs `max_steps` (no data to count epochs) and the table must cover the space."""
    phases = [("intermediate", space.intermediate), *((f"target ({t})", space.target_phase(t)) for t in space.targets)]
    for where, phase in phases:
        if phase.max_steps is None:
            raise InputError(f"{where}: simulation counts optimizer steps; allowed: set max_steps (not only epochs)")
    missing = table.missing(space.models, space.intermediate_tasks, space.targets)
    if missing:
        shown = "; ".join(" / ".join(key) for key in missing[:5])
        raise InputError(f"table lacks {len(missing)} (model / intermediate / target) row(s), e.g. {shown}")


def trial_plan(space: SearchSpace, noise_seed: int) -> TrialPlan:
    """The targets' lengths (0 steps for retrieval targets, which do not train) and default learning rates."""
    targets = []
    for name in space.targets:
        phase = space.target_phase(name)
        trains = FORMATS[TASKS[name].format].target_phase == "train" if name in TASKS else True
        targets.append(TargetPlan(name, phase.max_steps if trains else 0, phase.eval_every,  # type: ignore[arg-type]
                                  {model: phase.default_lr(model) for model in space.models}))
    return TrialPlan(tuple(targets), {m: space.intermediate.default_lr(m) for m in space.models}, noise_seed)


def grid_steps(space: SearchSpace) -> int:
    """Steps of the full grid run to completion: every model x intermediate x seed at default learning rates, each
    intermediate phase trained once, every trial training every target."""
    plan = trial_plan(space, 0)
    trained = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    per_trial = sum(target.steps for target in plan.targets)
    models, tasks, seeds = len(space.models), len(space.intermediate_tasks), len(space.seeds)
    return seeds * (models * len(trained) * space.intermediate.max_steps  # type: ignore[operator]
                    + models * tasks * per_trial)


def truth(space: SearchSpace, table: TransferTable) -> dict[str, str]:
    return {t: table.best_intermediate(t, space.models, space.intermediate_tasks) for t in space.targets}


def simulate(space: SearchSpace, table: TransferTable, seeds: int = 1, max_concurrent: int | None = None,
             storage: Path | None = None) -> list[SimResult]:
    """Run the space's search `seeds` times; run i seeds both the sampler and the evaluation noise with
    `search.seed + i`."""
    check_simulable(space, table)
    start_ray(space)
    with tempfile.TemporaryDirectory(prefix="raytl-simulate-") as tmp:
        root = storage or Path(tmp)
        return [_simulate_seed(space, table, index, max_concurrent, root) for index in range(seeds)]


def _simulate_seed(space: SearchSpace, table: TransferTable, index: int, max_concurrent: int | None,
                   root: Path) -> SimResult:
    search = {"seed": space.search.seed + index, "time_budget_s": None, "gpu_hours": None}
    if max_concurrent:
        search["max_concurrent_trials"] = max_concurrent
    seeded = space.model_copy(update={"search": space.search.model_copy(update=search)})
    events: list[Event] = []
    studies = [target_space(seeded, t) for t in seeded.targets] if seeded.search.mode == "per_target" else [seeded]
    if seeded.search.first_pass == "halving":
        rounds = simulated_round(seeded, table, lambda study: trial_plan(study, seeded.search.seed), event, events)
        first = run_first_pass(seeded, table_prior(seeded, table), rounds)
        studies = [finalist_space(study, first.finalists(study.targets[0], seeded.search.finalists))
                   for study in studies]
    states: Counter[str] = Counter()
    for number, study in enumerate(studies):
        recorder = Recorder(study.targets)
        searcher = _searcher(study)
        _tuner(study, searcher, table, seeded.search.seed, recorder, root / f"seed{index}-study{number}").fit()
        events += recorder.events
        states.update(trial.state.name for trial in searcher._ot_study.trials)  # the study the searcher told
    result = analyse(space, events, truth(space, table), seed=seeded.search.seed)
    result.optuna_states = dict(states)
    return result


def _searcher(space: SearchSpace) -> TransferSearch:
    """The searcher `raytl.search.tuner.build_tuner` makes, with its study in memory."""
    return TransferSearch(space=search_function(space), metric=METRIC, mode=MODE, sampler=sampler(space),
                          points_to_evaluate=points_to_evaluate(space) or None, study_name=space.name)


def _tuner(space: SearchSpace, searcher: TransferSearch, table: TransferTable, noise_seed: int, recorder: Recorder,
           where: Path) -> tune.Tuner:
    """A Tuner built like `raytl.search.tuner.build_tuner`, with the simulated trial."""
    trainable = tune.with_parameters(simulated_trial, plan=trial_plan(space, noise_seed), table=table)
    return tune.Tuner(
        tune.with_resources(trainable, {DRIVER_RESOURCE: 1}),  # no CPU: many simulated trials at once
        tune_config=dataclasses.replace(tune_config(space, searcher), reuse_actors=True),  # no process per trial
        run_config=tune.RunConfig(name=where.name, storage_path=str(where.parent), callbacks=[recorder], verbose=0),
    )


def analyse(space: SearchSpace, events: list[Event], truths: dict[str, str], seed: int = 0) -> SimResult:
    """Steps spent after each event, per-target incumbents over time, and when all were right for good."""
    result = SimResult(seed=seed, truth=truths)
    prices = step_prices_of(space)
    last_step: dict[str, int] = {}
    phases: set[tuple[Any, ...]] = set()
    best: dict[str, Incumbent] = {}
    right_since: tuple[int, float] | None = None
    counted: set[tuple[str, str, bool]] = set()
    for event in events:
        steps, flops = _cost(space, prices, event, last_step, phases)
        result.steps += steps
        result.flops += flops
        _count_truth(result, event, counted)
        for target in event.finished:
            score = event.scores[target]
            if target not in best or score > best[target].score:
                best[target] = Incumbent(result.steps, target, event.config["intermediate"], event.config["model"],
                                         score)
                result.changes.append(best[target])
        right = all(t in best and best[t].intermediate == truths[t] for t in truths)
        right_since = (right_since or (result.steps, result.flops)) if right else None
    result.found_at, result.found_at_flops = right_since or (None, None)
    result.trials = len(last_step)
    last = {event.trial_id: event for event in events}
    result.stopped = sum(len(event.finished) < len(event.targets) for event in last.values())
    result.intermediate_phases = len(phases)
    result.intermediate_steps = len(phases) * space.intermediate.max_steps  # type: ignore[operator]
    return result


def _count_truth(result: SimResult, event: Event, counted: set[tuple[str, str, bool]]) -> None:
    """Count the trials of each target's best intermediate task that reached the target, and that finished it."""
    for target, best in result.truth.items():
        counts = result.truth_trials.setdefault(target, [0, 0])
        if event.config["intermediate"] != best or target not in event.scores:
            continue
        for finished in {False, target in event.finished}:
            if (event.trial_id, target, finished) not in counted:
                counted.add((event.trial_id, target, finished))
                counts[finished] += 1


def _cost(space: SearchSpace, prices: StepPrices, event: Event, last_step: dict[str, int],
          phases: set[tuple[Any, ...]]) -> tuple[int, float]:
    """Steps and FLOPs an event adds: the trial's new target steps, plus its intermediate phase if no trial
    trained it."""
    model, before = event.config["model"], last_step.get(event.trial_id, 0)
    steps = max(event.step - before, 0)
    flops = prices.target_flops(model, event.targets, before, event.step)
    if event.trial_id not in last_step:
        config = event.config
        phase = (model, config["intermediate"], config.get("lr_intermediate"), config.get("seed"))
        if config["intermediate"] != NO_INTERMEDIATE and phase not in phases:
            phases.add(phase)
            steps += space.intermediate.max_steps  # type: ignore[operator]
            flops += space.intermediate.max_steps * prices.intermediate[model]  # type: ignore[operator]
    last_step[event.trial_id] = max(event.step, before)
    return steps, flops


def median_found(results: list[SimResult], flops: bool = False) -> float:
    """Median steps (or FLOPs) until all targets were found; a search that never found them counts as infinite."""
    found = [r.found_at_flops if flops else r.found_at for r in results]
    return statistics.median([math.inf if f is None else f for f in found])


def step_prices_of(space: SearchSpace) -> StepPrices:
    """Each step's FLOPs, with the target phases' lengths as the simulated trials count them."""
    return step_prices(space, {target.name: target.steps for target in trial_plan(space, 0).targets})


def grid_compute(space: SearchSpace) -> float:
    """FLOPs of the full grid run to completion."""
    return grid_flops(space, step_prices_of(space))


def format_report(space: SearchSpace, results: list[SimResult]) -> str:
    """Per seed: the incumbent over time, steps spent, when all targets were found; then the median, in steps and
    in FLOPs (a step of a larger model costs more: the size ladder saves compute that steps do not show)."""
    grid, compute = grid_steps(space), grid_compute(space)
    lines = [f"grid (every model x intermediate at default lrs, run to completion): {grid:,} steps, "
             f"~{flops_gpu_hours(space, compute):.3g} GPU-hours at raytl plan's prices, MFU {mfu_source(space)[0]:g}",
             "truth (best intermediate per target): " + ", ".join(f"{t}: {i}" for t, i in results[0].truth.items())]
    for result in results:
        states = ", ".join(f"{count} {state}" for state, count in sorted(result.optuna_states.items()))
        lines.append(f"seed {result.seed}: {result.trials} trials ({result.stopped} stopped early; Optuna: {states}), "
                     f"{result.steps:,} steps spent ({result.intermediate_steps:,} on intermediate phases; "
                     f"~{flops_gpu_hours(space, result.flops):.3g} GPU-hours)")
        lines += [f"  {c.steps:>10,} steps  {c.target}: {c.intermediate} ({c.model}) {c.score:.2f}"
                  for c in result.changes]
        found = "never (a target's incumbent is not the truth at the end)" if result.found_at is None else (
            f"at {result.found_at:,} steps = {result.found_at / grid:.3f} of the grid's steps, "
            f"{result.found_at_flops / compute:.3f} of its FLOPs")  # type: ignore[operator]
        lines.append(f"  every target's incumbent names its best intermediate: {found}")
    median = median_found(results)
    lines.append(f"median over {len(results)} seed(s): found at {median:,.0f} steps = {median / grid:.3f} of the "
                 f"grid's steps, {median_found(results, flops=True) / compute:.3f} of its FLOPs")
    return "\n".join(lines)
