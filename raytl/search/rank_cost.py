"""What `raytl rank` costs against the target phases it ranks for, priced as `raytl plan` prices training. Light
(no torch): `raytl plan` prints it.

    a forward row   a third of a training row: `step_flops` (6 x non-embedding parameters x tokens plus attention,
                    forward and backward) / 3, every row at the phase's `max_length`, as `compute_plan` counts
                    training (an upper bound on both sides; evaluation passes, which only add to a target phase,
                    are left out of it, so the share below is an upper bound too).
    rank of target  SEmb: its `semb_examples` rows at the target's length, plus its share (1 / the targets SEmb
                    ranks) of the intermediate tasks' rows at the intermediate length (a mixture embeds each of
                    its tasks); LogME (classification and tagging targets): `logme_examples` rows at the target's
                    length under every intermediate encoder, `none`'s (the base encoder) included. A training
                    set smaller than a sample is read whole.
    share           rank of target / the FLOPs of one training of that target's phase (`compute_plan`).

`rank`'s samples are fixed (1,000 rows a set, the papers' sizes) whatever the target's size, so the share falls
with the target's training set: it is smallest for XNLI (392,702 rows x epochs) and largest for TyDiQA (3,696).
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import NO_INTERMEDIATE, PhaseConfig, SearchSpace
from raytl.models.zoo import ModelEntry
from raytl.search.compute_plan import phase_costs, training_rows
from raytl.search.memory_plan import entries
from raytl.search.rank import LOGME_FORMATS, RankSettings
from raytl.tasks import TASKS
from raytl.training.memory import step_flops


@dataclass(frozen=True)
class RankCost:
    """`raytl rank`'s forward-pass FLOPs for one (model, target), and one training of that target's phase."""

    model: str
    target: str
    flops: float
    target_phase_flops: float

    @property
    def share(self) -> float:
        return self.flops / self.target_phase_flops if self.target_phase_flops else float("inf")


def rank_costs(space: SearchSpace, settings: RankSettings | None = None) -> list[RankCost]:
    """Per model and ranked target (one with a training set): rank's FLOPs for it against its target phase.

    >>> from raytl.search.plan import load_checked
    >>> costs = {c.target: c for c in rank_costs(load_checked("search_spaces/scaling.yaml")) if c.model == "large"}
    >>> costs["xnli"].share < 0.01 < costs["tydiqa"].share
    True
    """
    settings = settings or RankSettings()
    ranked = [t for t in space.targets if "train" in TASKS[t].sources]
    members = [task for name in space.intermediate_tasks if name != NO_INTERMEDIATE
               for task in (space.mixtures[name].tasks if name in space.mixtures else [name])]
    semb_rows = sum(_sample(settings.semb_examples, space, space.intermediate, task) for task in members)
    training = {(c.model, c.phase): c.flops for c in phase_costs(space)}
    out = []
    for model, entry in entries(space).items():
        semb_shared = _forward(entry, semb_rows, space.intermediate.max_length) / max(len(ranked), 1)
        for target in ranked:
            phase = space.target_phase(target)
            flops = 0.0
            if "semb" in settings.methods:
                flops += semb_shared + _forward(entry, _sample(settings.semb_examples, space, phase, target),
                                                phase.max_length)
            if "logme" in settings.methods and TASKS[target].format in LOGME_FORMATS:
                rows = _sample(settings.logme_examples, space, phase, target) * len(space.intermediate_tasks)
                flops += _forward(entry, rows, phase.max_length)
            out.append(RankCost(model, target, flops, training[(model, f"target {target}")]))
    return out


def _sample(examples: int, space: SearchSpace, phase: PhaseConfig, task: str) -> int:
    """Rows rank samples from a task's training set: `examples`, or all of a smaller (known) set."""
    size = training_rows(space, phase, task)
    return examples if size is None else min(examples, size)


def _forward(entry: ModelEntry, rows: int, tokens: int) -> float:
    return rows * step_flops(entry, 1, tokens) / 3


def describe_rank_cost(space: SearchSpace) -> list[str]:
    """`raytl plan`'s line per model: what ranking each target costs, as a share of one training of its phase."""
    settings, lines = RankSettings(), []
    costs = rank_costs(space, settings)
    for model in space.models:
        shares = ", ".join(f"{c.target} {c.share:.3g}" for c in costs if c.model == model)
        lines.append(f"    raytl rank ({' + '.join(settings.methods)}, {settings.semb_examples:,} rows a set) "
                     f"per target, as a share of one training of its phase: {model}: {shares or 'no ranked target'}")
    return lines
