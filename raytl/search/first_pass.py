"""The first pass of a per-target search (`search.first_pass: halving`): which intermediate tasks deserve a
learning-rate search, found with synchronous successive halving at the default learning rates.

Per target and model, the candidates are the prior's `top_k` intermediate tasks (`search.prior`; the catalogue's
order without one) plus the baseline `none`. Every candidate trains at the default (middle) learning rates with
seed `seeds[0]` to the first rung (`scheduler.grace_period` evaluations); the best 1/`reduction_factor` of them
(at least one) continue from their checkpoints to the next rung, `reduction_factor` times longer, and so on; the
last rung is the whole target phase. Unlike ASHA, nobody is promoted before every candidate reached the rung, so
the pass spends what halving needs and no more (Li et al. 2018 measured ASHA's price of asynchrony).

With `ladder`, the models go one after the other, smallest first, every target at each size before the next size:
a larger model trains only the `carry_k` best intermediate tasks of the size below (its measured ranking) plus
`none`, each to the end of the phase: they are the close calls, which mid-phase rankings cannot tell apart. Small
encoders are cheap, and whether their ranking holds at 3.5B and 10.7B parameters is reported.

The pass is written against a `RunRound` callable, so `raytl search` (Tune trials that train) and
`raytl simulate` (Tune trials that read a transfer table) run the same decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.models.zoo import ZOO
from raytl.search.counts import halving_trials
from raytl.search.space import default_lrs
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS


@dataclass(frozen=True)
class Measurement:
    """Where one candidate's training stands after a rung."""

    lineage: str  # raytl's trial id: the trial a later rung continues
    model: str
    intermediate: str
    step: int  # target-phase steps trained
    score: float  # its dev selection score (the best evaluation so far)


RunRound = Callable[[str, str, int, list[dict[str, Any]]], list[Measurement]]
"""(model, target, rung number, the rung's trial configs) -> one measurement per config."""

Prior = dict[str, dict[str, list[str]]]
"""model -> target -> intermediate tasks, best first (the baseline not included)."""


@dataclass
class FirstPass:
    """Per target and model, the candidates' measurements, best first (a later rung ranks above an earlier one)."""

    ranked: dict[str, dict[str, list[Measurement]]] = field(default_factory=dict)

    def finalists(self, target: str, count: int) -> list[str]:
        """The intermediate tasks whose learning rates the target's study searches: the `count` best of each
        model, then `none`."""
        chosen: list[str] = []
        for measurements in self.ranked.get(target, {}).values():
            trained = [m.intermediate for m in measurements if m.intermediate != NO_INTERMEDIATE]
            chosen += [task for task in trained[:count] if task not in chosen]
        return [*chosen, NO_INTERMEDIATE]


def rungs(space: SearchSpace, target: str) -> list[int] | list[float]:
    """Where each rung ends: target-phase steps, the whole phase and below it each rung `reduction_factor` times
    shorter (on an evaluation step), down to `grace_period` evaluations. A phase given in epochs has no step count
    before its data is read: its rungs are fractions of the phase, 1/rf^2, 1/rf and 1 (a trial stops at its first
    evaluation past the fraction of the steps it computed).

    >>> from raytl.config import parse_space
    >>> space = parse_space({"name": "r", "models": ["tiny"], "intermediate_tasks": ["none"], "targets": ["xnli"],
    ...     "intermediate": {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 10},
    ...     "target": {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 2000, "eval_every": 200}})
    >>> rungs(space, "xnli")
    [200, 600, 2000]
    """
    if target in TASKS and FORMATS[TASKS[target].format].target_phase != "train":
        return [0]  # a retrieval target trains nothing: one evaluation of each encoder, one rung
    phase, factor = space.target_phase(target), space.scheduler.reduction_factor  # type: ignore[union-attr]
    total = phase.max_steps or (space.scheduler.max_t if phase.epochs is None else None)  # type: ignore[union-attr]
    if total is None:
        return [factor**-2, 1 / factor, 1.0]
    first = space.scheduler.grace_period * phase.eval_every  # type: ignore[union-attr]
    budgets, budget = [total], total / factor
    while budget >= first:
        step = max(first, int(budget // phase.eval_every) * phase.eval_every)
        if step < budgets[0]:
            budgets.insert(0, step)
        budget /= factor
    return budgets


def keep_count(survivors: int, factor: float) -> int:
    """How many go on to the next rung: the best 1/factor, rounded up, as ASHA promotes the top 1/factor quantile
    (Li et al. 2018): with 4 candidates and factor 3, 2 go on, not 1; mid-phase rankings are noisy."""
    return math.ceil(survivors / factor)


def halve(space: SearchSpace, model: str, target: str, tasks: list[str], run_round: RunRound,
          budgets: list[int] | list[float] | None = None) -> list[Measurement]:
    """Synchronous successive halving of `tasks` for (model, target) over `budgets` (default: `rungs`); returns
    every candidate, best first."""
    measured: dict[str, Measurement] = {}
    survivors = list(tasks)
    budgets = budgets or rungs(space, target)
    for number, until in enumerate(budgets):
        configs = [round_config(space, model, task, until, measured.get(task)) for task in survivors]
        measured.update({m.intermediate: m for m in run_round(model, target, number, configs)})
        if number + 1 < len(budgets):
            survivors = _best(measured, survivors)[:keep_count(len(survivors), space.scheduler.reduction_factor)]  # type: ignore[union-attr]
    return [measured[task] for task in _best(measured, list(measured))]


def round_config(space: SearchSpace, model: str, task: str, until: float, before: Measurement | None
                 ) -> dict[str, Any]:
    """One trial of a rung: default learning rates, the first seed, where to stop (`until` a step, or
    `until_fraction` of the phase), and which trial it continues."""
    stop = {"until_fraction": until} if isinstance(until, float) else {"until": until}
    config = {"model": model, "intermediate": task, **default_lrs(space, model, task), "seed": space.seeds[0], **stop}
    if before is not None:
        config.update(continues=before.lineage, from_step=before.step)
    return config


def _best(measured: dict[str, Measurement], tasks: list[str]) -> list[str]:
    return sorted(tasks, key=lambda task: (measured[task].step, measured[task].score), reverse=True)


def candidates(space: SearchSpace, ranking: list[str]) -> list[str]:
    """The prior's `top_k` (every task without `top_k`), then the baseline."""
    trained = [task for task in ranking if task != NO_INTERMEDIATE]
    return [*trained[:space.search.top_k], NO_INTERMEDIATE]


def catalogue_prior(space: SearchSpace) -> Prior:
    """No prior: the space's order of intermediate tasks for every model and target."""
    order = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    return {model: {target: list(order) for target in space.targets} for model in space.models}


def ladder_order(space: SearchSpace) -> list[str]:
    """The models smallest first (by encoder parameters; a model outside the zoo goes last, in the space's order)."""
    return sorted(space.models, key=lambda model: ZOO[model].params if model in ZOO else math.inf)


def run_first_pass(space: SearchSpace, prior: Prior, run_round: RunRound) -> FirstPass:
    """Every target's halving at every model; with `ladder`, smallest model first for all targets, a larger model
    trying the `carry_k` best of the size below."""
    result = FirstPass()
    models = ladder_order(space) if space.search.ladder else list(space.models)
    for number, model in enumerate(models):
        for target in space.targets:
            budgets = rungs(space, target)
            if space.search.ladder and number > 0:  # the finalists of the size below: close calls, trained to
                below = [m.intermediate for m in result.ranked[target][models[number - 1]]]  # the end
                tasks = [*[t for t in below if t != NO_INTERMEDIATE][:space.search.carry_k], NO_INTERMEDIATE]
                budgets = budgets[-1:]
            else:
                tasks = candidates(space, prior[model][target])
            print(f"--- first pass, {model} on {target}: {len(tasks)} candidates, rungs at {budgets} steps",
                  flush=True)
            result.ranked.setdefault(target, {})[model] = halve(space, model, target, tasks, run_round, budgets)
    return result


def finalist_space(study: SearchSpace, finalists: list[str]) -> SearchSpace:
    """A target's study after its first pass: the same space over the finalists only (`define_trial` then keeps
    the intermediate learning rate at its default, so the phase store shares the finalists' phases)."""
    return study.model_copy(update={"intermediate_tasks": finalists})


def measurements(results: list[tuple[str, dict[str, Any], dict[str, Any]]], target: str) -> list[Measurement]:
    """(lineage, config, last reported metrics) of a rung's trials -> their measurements."""
    return [Measurement(lineage, config["model"], config["intermediate"], int(metrics["step"]),
                        float(metrics[f"dev:{target}"])) for lineage, config, metrics in results]


def point_keys(configs: list[dict[str, Any]]) -> dict[str, None]:
    """A param_space naming every key of a rung's points (Tune's point presets must name existing keys)."""
    return {key: None for config in configs for key in config}


def halving_line(space: SearchSpace) -> str:
    """`raytl plan`'s line for `search.first_pass: halving`."""
    search = space.search
    order = " -> ".join(ladder_order(space)) + f" (each larger size trains the {search.carry_k} best of the " \
        "size below + none to the end)" if search.ladder else "every model"
    picked = f"the {search.prior} prior's top {search.top_k}" if search.top_k else "every task"
    return (f"  first pass before each study: {halving_trials(space)} trials per target at the default learning "
            f"rates, synchronous halving ({picked} + none; {order}; rungs at {_rungs(space)}), then the "
            f"study's {search.num_trials} trials search the target "
            f"learning rate of {search.finalists} finalist(s) per model + none")


def _rungs(space: SearchSpace) -> str:
    budgets = rungs(space, space.targets[0])
    if isinstance(budgets[0], float):
        return ", ".join(f"{b:.2g}" for b in budgets) + " of each target phase"
    return f"steps {', '.join(map(str, budgets))} for {space.targets[0]}"
