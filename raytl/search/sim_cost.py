"""What a simulated search's steps cost in training FLOPs, priced per model and phase as `raytl plan` prices them
(`compute_plan.phase_step_flops`: the phase's batch size, every row at `max_length`).

Steps alone treat a step of XLM-R Base like a step of XLM-R XXL; the size ladder (`search.ladder`) saves by running
the small models first, so only a count that weighs each step by its model's cost shows what it saves in GPU-hours.
A trial's target steps are priced by the target they belong to (a joint-mode trial trains its targets one after
the other, as `sim_trial.simulated_trial` counts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.search.compute_plan import phase_step_flops
from raytl.search.memory_plan import entries


@dataclass(frozen=True)
class StepPrices:
    """FLOPs of one optimizer step: of each model's intermediate phase, and of each (model, target) phase."""

    intermediate: dict[str, float]
    target: dict[tuple[str, str], float]
    target_steps: dict[str, int]  # each target phase's length (0: a retrieval target, which does not train)

    def target_flops(self, model: str, targets: tuple[str, ...], start: int, end: int) -> float:
        """FLOPs of a trial's target steps `start` to `end`, counted over its `targets` trained in order."""
        flops, offset = 0.0, 0
        for target in targets:
            length = self.target_steps[target]
            overlap = min(end, offset + length) - max(start, offset)
            if overlap > 0:
                flops += overlap * self.target[(model, target)]
            offset += length
        return flops


def step_prices(space: SearchSpace, target_steps: dict[str, int]) -> StepPrices:
    """Prices for `space`'s models and targets; `target_steps` as the simulated trials count them."""
    models = entries(space)
    return StepPrices(
        intermediate={name: phase_step_flops(entry, space.intermediate) for name, entry in models.items()},
        target={(name, target): phase_step_flops(entry, space.target_phase(target))
                for name, entry in models.items() for target in space.targets},
        target_steps=target_steps)


def grid_flops(space: SearchSpace, prices: StepPrices) -> float:
    """FLOPs of the full grid run to completion (what `simulate.grid_steps` counts, each step at its price)."""
    trained = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    total = 0.0
    for model in space.models:
        per_trial = prices.target_flops(model, tuple(space.targets), 0, sum(prices.target_steps.values()))
        total += len(trained) * space.intermediate.max_steps * prices.intermediate[model]  # type: ignore[operator]
        total += len(space.intermediate_tasks) * per_trial
    return len(space.seeds) * total

