"""`raytl plan`: what a search would run, from the validated space alone (no Ray, no torch)."""

from __future__ import annotations

from pathlib import Path

from raytl.config import NO_INTERMEDIATE, SearchSpace, load_space, parse_space
from raytl.errors import InputError
from raytl.models.zoo import ZOO
from raytl.planner import check_fits, entries, gpu_bytes
from raytl.search.tracking import check_tracking
from raytl.storage import check_writable
from raytl.tasks import INTERMEDIATE_TASKS, TARGET_TASKS, TASKS
from raytl.training.memory import GIB


def load_checked(path: str | Path, storage: str | None = None, name: str | None = None) -> SearchSpace:
    """Validate a search-space file against the known tasks and models, and its storage path. Raises InputError.

    >>> space = load_checked("search_spaces/quickstart.yaml")  # doctest: +SKIP
    """
    space = load_space(path, models=list(ZOO), intermediate_tasks=INTERMEDIATE_TASKS, targets=TARGET_TASKS)
    overrides = {key: value for key, value in (("storage", storage), ("name", name)) if value is not None}
    if overrides:
        space = parse_space({**space.model_dump(mode="json"), **overrides}, source=str(path), models=list(ZOO),
                            intermediate_tasks=INTERMEDIATE_TASKS, targets=TARGET_TASKS)
    check_writable(space.storage, key_path="storage", file=str(path))
    check_tracking(space.tracking, str(path))
    check_fits(space, str(path))
    check_equalise(space, str(path))
    return space


def check_equalise(space: SearchSpace, source: str) -> None:
    """`intermediate.equalise.examples` must not exceed the training set of a searched task (the catalog's
    `complexity.train_size`; generated data and the user's own data are checked when loaded)."""
    equalise = space.intermediate.equalise
    if not equalise or not equalise.examples or space.data.source == "generated":
        return
    sizes = _train_sizes(space)
    for name, size in sizes.items():
        if size < equalise.examples:
            raise InputError(f"{source}: intermediate.equalise.examples: {equalise.examples:,} is more than "
                             f"{name}'s {size:,} training examples; allowed: at most {min(sizes.values()):,}")


def _train_sizes(space: SearchSpace) -> dict[str, int]:
    """Catalog training-set sizes of the searched intermediate tasks (mixtures expanded), where known."""
    names = [t for n in space.intermediate_tasks for t in (space.mixtures[n].tasks if n in space.mixtures else [n])]
    known = [TASKS[n] for n in names if n in TASKS and TASKS[n].complexity and TASKS[n].complexity.train_size]
    return {task.name: task.complexity.train_size for task in known}  # type: ignore[union-attr]


def describe(space: SearchSpace) -> str:
    """A human-readable plan: trials, phases (with sharing), resources per trial."""
    res = space.resources
    intermediates = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    lines = [
        f"search '{space.name}' -> {Path(space.storage) / space.name}",
        f"  trials: {space.search.num_trials} ({space.search.algorithm}), at most "
        f"{space.search.max_concurrent_trials} at once; scheduler: {space.scheduler.type}",
        f"  each trial: {res.num_workers} Ray Train workers x ({res.cpus_per_worker:g} CPU, "
        f"{res.gpus_per_worker:g} GPU), DeepSpeed ZeRO {space.deepspeed.zero_stage}, precision "
        f"{space.deepspeed.precision}",
        "  models:",
        *(f"    {m}: {e.hub_id or 'built from config'} ({_params(e.params)})" for m, e in entries(space).items()),
        "  phases of a trial:",
        f"    1. intermediate (English), one of: {', '.join(space.intermediate_tasks)}; "
        f"{_length(space.intermediate)}; lr in [{space.intermediate.lr.low:g}, {space.intermediate.lr.high:g}]"
        f" (log); trained once per (model, task, lr, seed) and shared across trials",
        *_equalise_lines(space),
        f"    2. target (English): {', '.join(space.targets)}; {_length(space.target)}; "
        f"lr in [{space.target.lr.low:g}, {space.target.lr.high:g}] (log); dev selection on English",
        "    3. zero-shot evaluation on the " + space.eval_split + " split:",
        *(f"       {t}: {TASKS[t].metric}, {len(TASKS[t].languages)} languages: {' '.join(TASKS[t].languages)}"
          for t in space.targets),
        f"  distinct intermediate phases at most: {len(intermediates) * len(space.models) * len(space.seeds)}"
        " x learning rates tried",
        f"  data: {space.data.source}" + (f" ({space.data.dir})" if space.data.dir else ""),
    ]
    return "\n".join(lines + _memory_lines(space))


def _memory_lines(space: SearchSpace) -> list[str]:
    available = gpu_bytes(space)
    limit = f"{available / GIB:.1f} GiB per worker" if available else "no resources.gpu_memory_gb set"
    return [f"  estimated memory per GPU ({limit}; see raytl/training/memory.py):",
            *(f"    {row.line()}" for row in check_fits(space, "plan"))]


def _equalise_lines(space: SearchSpace) -> list[str]:
    equalise = space.intermediate.equalise
    if not equalise:
        return []
    if equalise.steps:
        return [f"       equalised: every intermediate task trains {equalise.steps} optimizer steps"]
    sizes = _train_sizes(space)
    known = f" (of {', '.join(f'{n} {s:,}' for n, s in sizes.items())})" if sizes else ""
    return [f"       equalised: every intermediate task trains on a seeded random sample of {equalise.examples:,} "
            f"examples per training language{known}, drawn with the trial seed"]


def _length(phase) -> str:
    return f"{phase.max_steps} steps" if phase.max_steps else f"{phase.epochs:g} epochs"


def _params(count: int) -> str:
    return "tiny" if count == 0 else f"{count / 1e9:.2f}B parameters"
