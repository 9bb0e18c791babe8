"""What a search will cost before it starts: training FLOPs per model and phase, GPU-hours at a stated MFU, and
the whole search's GPU-hours and wall-clock at its concurrency. Light (no torch): `raytl plan` prints it.

    FLOPs       steps x `step_flops` (raytl/training/memory.py: 6 x non-embedding parameters x tokens for the
                matrix products, plus attention's scores and weighted sum, forward and backward), with every row
                at `max_length` tokens: dynamic padding trains fewer, so this is an upper bound.
    steps       `max_steps`, else epochs x training rows / batch_size; rows: the catalog's English training-set
                size (`complexity.train_size`; targets: XTREME's Table 1; a mixture sums its tasks; span QA
                counts questions, not the windows a long context is cut into), `data.generated_train_size` for
                generated data, capped by `max_train_examples` or set by `equalise.examples`. A task without a
                known size (the user's own data) is counted at 0 rows and named. BUCC and Tatoeba train nothing.
    GPU-hours   FLOPs / (MFU x peak) / 3600. MFU: `resources.mfu`, else MEASURED_MFU when `python -m bench gpu`
                has run on a GPU, else ASSUMED_MFU (0.35); peak: `resources.gpu_tflops`, else an H100 SXM's bf16 dense
                989.5 TFLOP/s.
    a search    every trial runs to its end (early stopping only lowers it) and, the sampler's choices being
                unknown, spreads evenly over the searched models and intermediate tasks: a trial costs the mean
                over them of its intermediate phase (none for `none`) and every target phase. Trials sharing one
                intermediate phase (the phase store) lower it too: an upper bound. Wall-clock: GPU-hours / (GPUs
                per trial x `max_concurrent_trials`), GPUs per trial = num_workers x max(gpus_per_worker, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import NO_INTERMEDIATE, PhaseConfig, SearchSpace
from raytl.models.zoo import ModelEntry
from raytl.search.counts import trials_with_first_pass
from raytl.search.memory_plan import entries
from raytl.tasks import TASKS
from raytl.training.memory import step_flops

H100_BF16_TFLOPS = 989.5  # NVIDIA's datasheet, dense (the sparsity figure halved)
# No GPU figure yet: `python -m bench gpu` has not run on a GPU (docs/readme/bench.md). When it has, its MFU for
# Large at sequence length 256 goes here and becomes the default.
MEASURED_MFU: float | None = None
# Until then bench scale_plan's H100 assumption: NVIDIA's published BERT-Large fine-tuning throughput gives 0.17 on a
# V100 in 2019 by the same FLOPs count (docs/readme/bench.md) and bench gpu's target is 0.45; stated wherever used.
ASSUMED_MFU = 0.35
# English training sets of XTREME's targets (Hu et al. 2020, "XTREME", Table 1); BUCC and Tatoeba train nothing
XTREME_TRAIN_SIZES = {"xnli": 392_702, "pawsx": 49_401, "udpos": 21_253, "panx": 20_000, "xquad": 87_599,
                      "mlqa": 87_599, "tydiqa": 3_696}
NO_TRAINING = ("bitext_mining", "nearest_neighbour")  # formats whose target phase only embeds


@dataclass(frozen=True)
class PhaseCost:
    """One (model, phase) of a search: its steps, FLOPs and GPU-hours, and tasks whose size is unknown."""

    model: str
    phase: str  # "intermediate <task>" or "target <task>"
    steps: int
    flops: float
    gpu_hours: float
    unknown_sizes: tuple[str, ...] = ()

    def line(self) -> str:
        unknown = f" (no known size: {', '.join(self.unknown_sizes)}, counted as 0 rows)" if self.unknown_sizes else ""
        return (f"{self.model} {self.phase}: {self.steps:,} steps, {self.flops:.2e} FLOPs, "
                f"{_gpu_hours(self.gpu_hours)} GPU-hours{unknown}")


def mfu_source(space: SearchSpace) -> tuple[float, str]:
    """The MFU the estimate uses and where it comes from.

    >>> from raytl.search.plan import load_checked
    >>> mfu_source(load_checked("search_spaces/quickstart.yaml"))
    (0.35, 'assumed (no GPU figure measured yet)')
    """
    if space.resources.mfu is not None:
        return space.resources.mfu, "resources.mfu"
    if MEASURED_MFU is not None:
        return MEASURED_MFU, "measured by python -m bench gpu"
    return ASSUMED_MFU, "assumed (no GPU figure measured yet)"


def peak_flops(space: SearchSpace) -> float:
    return (space.resources.gpu_tflops or H100_BF16_TFLOPS) * 1e12


def phase_steps(space: SearchSpace, phase: PhaseConfig, tasks: list[str]) -> tuple[int, tuple[str, ...]]:
    """Optimizer steps of a phase training `tasks` together, and the tasks whose training-set size is unknown."""
    if all(TASKS[task].format in NO_TRAINING for task in tasks):
        return 0, ()
    if phase.max_steps:
        return phase.max_steps, ()
    sizes = {task: training_rows(space, phase, task) for task in tasks}
    rows = sum(size or 0 for size in sizes.values())
    return int(phase.epochs * rows // phase.batch_size), tuple(task for task, size in sizes.items() if size is None)


def training_rows(space: SearchSpace, phase: PhaseConfig, task: str) -> int | None:
    """Rows of `task`'s training set the phase reads (None: unknown size)."""
    if phase.equalise and phase.equalise.examples:
        return phase.equalise.examples
    if space.data.source_for(task) == "generated":
        size: int | None = space.data.generated_train_size
    else:
        complexity = TASKS[task].complexity
        size = complexity.train_size if complexity else XTREME_TRAIN_SIZES.get(task)
    if size is not None and phase.max_train_examples:
        size = min(size, phase.max_train_examples)
    return size


def phase_costs(space: SearchSpace) -> list[PhaseCost]:
    """Per searched model: each intermediate task's phase, then each target's."""
    costs = []
    for name, entry in entries(space).items():
        phases = [(f"intermediate {task}", space.intermediate, _members(space, task))
                  for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
        phases += [(f"target {target}", space.target_phase(target), [target]) for target in space.targets]
        for label, phase, tasks in phases:
            steps, unknown = phase_steps(space, phase, tasks)
            flops = steps * phase_step_flops(entry, phase)
            costs.append(PhaseCost(name, label, steps, flops, flops_gpu_hours(space, flops), unknown))
    return costs


def _members(space: SearchSpace, task: str) -> list[str]:
    return list(space.mixtures[task].tasks) if task in space.mixtures else [task]


def phase_step_flops(entry: ModelEntry, phase: PhaseConfig) -> float:
    """FLOPs of one optimizer step of `phase` (its batch size, every row at `max_length`)."""
    return step_flops(entry, phase.batch_size, phase.max_length)


def flops_gpu_hours(space: SearchSpace, flops: float) -> float:
    """FLOPs at the space's MFU and peak."""
    return flops / (mfu_source(space)[0] * peak_flops(space)) / 3600


def search_gpu_hours(space: SearchSpace, costs: list[PhaseCost]) -> float:
    """GPU-hours of the whole search (upper bound; see the module docstring).

    >>> from raytl.search.plan import load_checked
    >>> space = load_checked("search_spaces/phang2020.yaml")  # 90 + 90 first-pass trials of XLM-R Large, MFU 0.35
    >>> round(search_gpu_hours(space, phase_costs(space)))
    158
    """
    per_trial = 0.0
    for model in space.models:
        mine = {cost.phase: cost.gpu_hours for cost in costs if cost.model == model}
        intermediate = sum(mine.get(f"intermediate {task}", 0.0) for task in space.intermediate_tasks)
        per_trial += intermediate / len(space.intermediate_tasks) + sum(mine[f"target {t}"] for t in space.targets)
    return per_trial / len(space.models) * trials_with_first_pass(space)


def gpus_per_trial(space: SearchSpace) -> float:
    return space.resources.num_workers * max(space.resources.gpus_per_worker, 1.0)


def describe_cost(space: SearchSpace) -> list[str]:
    """`raytl plan`'s cost lines: MFU and peak stated, one line per (model, phase), the search's total and wall
    clock, and the `search.gpu_hours` budget against it."""
    mfu, source = mfu_source(space)
    costs = phase_costs(space)
    total = search_gpu_hours(space, costs)
    gpus, concurrent = gpus_per_trial(space), space.search.max_concurrent_trials
    lines = [f"  estimated compute (MFU {mfu:g}, {source}; peak {peak_flops(space) / 1e12:g} TFLOP/s per GPU; "
             "see raytl/search/compute_plan.py):",
             *(f"    {cost.line()}" for cost in costs),
             f"    the search: {trials_with_first_pass(space):,} trials, at most {_gpu_hours(total)} GPU-hours "
             f"(every trial to its end); wall-clock {_hours(total / (gpus * concurrent))} at {concurrent} trial(s) "
             f"at once x {gpus:g} GPUs" + (" (no GPUs asked for: priced as one per worker)"
                                 if space.resources.gpus_per_worker == 0 else "")]
    budget = space.search.gpu_hours
    if budget is not None:
        binds = total > budget
        lines.append(f"    search.gpu_hours {budget:g} " + (f"stops it at {budget / total:.0%} of the estimate" if binds
                     else "is more than the estimate: it does not bind"))
    return lines


def _gpu_hours(hours: float) -> str:
    return f"{hours:.2g}" if hours < 0.1 else f"{hours:,.1f}"


def _hours(hours: float) -> str:
    return f"{hours * 60:.1f} min" if hours < 1 else f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} days"
