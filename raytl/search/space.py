"""The Optuna search space, define-by-run (conditional: no intermediate learning rate for the baseline; the
learning-rate ranges depend on the model size through `lr_by_model`).

Ray's OptunaSearch pickles the function by reference, so it lives at module level and gets the space through
`functools.partial`. Grid mode suggests only the categorical choices (model, intermediate task, seed); its learning
rates are constants (the phases' default, middle, learning rates for the model), returned beside the suggestions.
Elsewhere the seed is a constant too, taken in turn by trial number (see `raytl.search.counts`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import optuna

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.search.counts import seed_of, trial_count


def define_trial(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Suggest one trial's parameters; returns the constants that go with them."""
    model = trial.suggest_categorical("model", space.models)
    intermediate = trial.suggest_categorical("intermediate", space.intermediate_tasks)
    if space.search.algorithm == "grid":  # the seed is a grid axis: every cell at every seed
        trial.suggest_categorical("seed", space.seeds)
        return default_lrs(space, model, intermediate)
    constants: dict[str, Any] = {"seed": seed_of(space, trial.number)}  # by turns, never chosen by the sampler
    if intermediate != NO_INTERMEDIATE and space.search.first_pass == "halving":
        constants["lr_intermediate"] = space.intermediate.default_lr(model)  # the finalists' phases, shared
    elif intermediate != NO_INTERMEDIATE:
        lr = space.intermediate.lr_range(model)
        trial.suggest_float("lr_intermediate", lr.low, lr.high, log=True)
    lr = target_phase(space).lr_range(model)
    trial.suggest_float("lr_target", lr.low, lr.high, log=True)
    return constants


def target_phase(space: SearchSpace):
    """The target phase whose learning rate is searched: the single target's (with its overrides) in a per-target
    study, else the shared `target` phase (joint mode allows no per-target learning rate)."""
    return space.target_phase(space.targets[0]) if len(space.targets) == 1 else space.target


def default_lrs(space: SearchSpace, model: str, intermediate: str) -> dict[str, float]:
    """The default (geometric middle) learning rates of one model x intermediate point."""
    lrs = {"lr_target": target_phase(space).default_lr(model)}
    if intermediate != NO_INTERMEDIATE:
        lrs["lr_intermediate"] = space.intermediate.default_lr(model)
    return lrs


def points_to_evaluate(space: SearchSpace) -> list[dict[str, Any]]:
    """Explicit `points_to_evaluate`, then (with `defaults_first`) every model x intermediate task at default lrs,
    each point once per seed in a row (so the trials' turn-taking seeds give it every seed).

    >>> [p["intermediate"] for p in points_to_evaluate(space)]  # doctest: +SKIP
    ['none', 'mnli', 'qqp']
    """
    points = [dict(point) for point in space.search.points_to_evaluate]
    if space.search.defaults_first and space.search.algorithm != "grid":
        points += [{"model": model, "intermediate": task, **default_lrs(space, model, task)}
                   for model in space.models for task in space.intermediate_tasks for _ in space.seeds]
    return points


def grid(space: SearchSpace) -> dict[str, list[Any]]:
    return {"model": list(space.models), "intermediate": list(space.intermediate_tasks), "seed": list(space.seeds)}


def num_trials(space: SearchSpace) -> int:
    """Trials of one study (Tune's num_samples): the grid's size in grid mode, else `search.num_trials`."""
    return trial_count(space).per_study


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler calls `study.stop()` once the grid is exhausted, which raises outside
    `study.optimize`; Tune asks and tells, and ends the grid itself through `num_samples`."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001 (Optuna's signature)
        return None


def search_function(space: SearchSpace) -> partial:
    return partial(define_trial, space=space)


def sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    """TPE for `optuna`, uniform random for `random` (the comparison baseline), every model x intermediate once
    for `grid`; all seeded."""
    if space.search.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=space.search.seed)
    if space.search.algorithm == "grid":
        return AskTellGridSampler(grid(space), seed=space.search.seed)
    return optuna.samplers.TPESampler(seed=space.search.seed)
