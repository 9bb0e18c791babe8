"""The Optuna search space, define-by-run (conditional: no intermediate learning rate for the baseline).

Ray's OptunaSearch pickles the function by reference, so it lives at module level and gets the space through
`functools.partial`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import optuna

from raytl.config import NO_INTERMEDIATE, SearchSpace


def define_trial(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Suggest one trial's parameters; returns the constants that go with them."""
    trial.suggest_categorical("model", space.models)
    intermediate = trial.suggest_categorical("intermediate", space.intermediate_tasks)
    if intermediate != NO_INTERMEDIATE:
        lr = space.intermediate.lr
        trial.suggest_float("lr_intermediate", lr.low, lr.high, log=True)
    trial.suggest_float("lr_target", space.target.lr.low, space.target.lr.high, log=True)
    return {"seed": space.seeds[0]}


def search_function(space: SearchSpace) -> partial:
    return partial(define_trial, space=space)


def sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    """TPE for `optuna`, uniform random for `random` (the comparison baseline); both seeded."""
    if space.search.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=space.search.seed)
    return optuna.samplers.TPESampler(seed=space.search.seed)
