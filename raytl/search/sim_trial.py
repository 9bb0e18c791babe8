"""The Tune trial function of `raytl simulate`: reads a transfer table instead of training, and reports exactly
what a real trial reports (`objective`, `step`, `status`, `targets_done`, `target`, `target_step`, `dev:TARGET`; see
`raytl.pipeline.progress.trial_metrics`) at every evaluation of every target phase.

Light to import (Ray Tune and the table only, no torch): many simulated trials run at once, each in a Tune actor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from raytl.config import NO_INTERMEDIATE
from raytl.search.sim_table import TransferTable, evaluation_rng


@dataclass(frozen=True)
class TargetPlan:
    """One target phase: its length in optimizer steps (0 for retrieval targets, which do not train), how often it
    is evaluated, and the default (middle) learning rate per model."""

    name: str
    steps: int
    eval_every: int
    default_lr: dict[str, float]

    def evaluations(self) -> list[int]:
        """Steps at which the phase is evaluated: every `eval_every` and at its end (step 0 only, untrained)."""
        points = list(range(self.eval_every, self.steps, self.eval_every))
        return [*points, self.steps]


@dataclass(frozen=True)
class TrialPlan:
    """What every simulated trial needs from the search space, computed once by the driver."""

    targets: tuple[TargetPlan, ...]
    intermediate_lr: dict[str, float]  # default (middle) intermediate learning rate per model
    noise_seed: int


def simulated_trial(config: dict[str, Any], plan: TrialPlan, table: TransferTable,
                    send: Callable[[dict[str, Any]], None] | None = None) -> None:
    """One trial: its targets one after the other, each a noisy learning curve towards the table's final score.

    The score reported for a target is its best evaluation so far, as a real trial reports its dev-selected one.
    A first-pass rung (`raytl.search.first_pass`) stops the trial after its evaluation at step `until`; the next
    rung continues it from `from_step`: the evaluations before it are replayed, not reported again. `send`
    receives the reports (default: `tune.report`).
    """
    send = send or tune.report
    model, intermediate = config["model"], config["intermediate"]
    start, until = config.get("from_step", 0), config.get("until")
    scores: dict[str, float] = {}
    steps_before = 0
    for done, target in enumerate(plan.targets):
        cell = table.cell(model, intermediate, target.name)
        final = cell.final(lr_offsets(config, plan, target))
        rng = evaluation_rng(plan.noise_seed, model, intermediate, config.get("lr_intermediate"),
                             config["lr_target"], config.get("seed"), target.name)
        for step in target.evaluations():
            scores[target.name] = max(cell.at(final, step, target.steps, rng), scores.get(target.name, -math.inf))
            if start and steps_before + step <= start:
                continue
            send(report(plan, scores, steps_before + step, done + (step == target.steps), target.name, step))
            if until is not None and steps_before + step >= until:
                return
        steps_before += target.steps


def lr_offsets(config: dict[str, Any], plan: TrialPlan, target: TargetPlan) -> list[float]:
    """Decades between the trial's learning rates and the defaults (no intermediate rate for the baseline)."""
    model = config["model"]
    offsets = [math.log10(config["lr_target"] / target.default_lr[model])]
    if config["intermediate"] != NO_INTERMEDIATE and "lr_intermediate" in config:
        offsets.append(math.log10(config["lr_intermediate"] / plan.intermediate_lr[model]))
    return offsets


def report(plan: TrialPlan, scores: dict[str, float], step: int, targets_done: int, target: str,
           target_step: int) -> dict[str, Any]:
    """The metrics of one evaluation, keyed like a real trial's."""
    return {
        "step": step,
        "objective": sum(scores.values()) / len(scores),
        "status": "completed" if targets_done == len(plan.targets) else "running",
        "targets_done": targets_done,
        "target": target,
        "target_step": target_step,
        **{f"dev:{name}": score for name, score in scores.items()},
    }
