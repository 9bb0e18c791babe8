"""`raytl plan`: what a search would run, from the validated space alone (no Ray, no torch)."""

from __future__ import annotations

from pathlib import Path

from raytl.config import NO_INTERMEDIATE, PhaseConfig, SearchSpace, load_space, parse_space
from raytl.errors import InputError
from raytl.models.zoo import ZOO, ModelEntry, retrieval_layer, size_label
from raytl.pipeline.storage_checks import check_writable
from raytl.search.compute_plan import describe_cost
from raytl.search.counts import describe_trials
from raytl.search.memory_plan import check_fits, entries, gpu_bytes
from raytl.search.rank_cost import describe_rank_cost
from raytl.search.tracking import check_tracking
from raytl.tasks import INTERMEDIATE_TASKS, TARGET_TASKS, TASK_SOURCES, TASKS, Task
from raytl.training.memory import GIB


def load_checked(path: str | Path, storage: str | None = None, name: str | None = None) -> SearchSpace:
    """Validate a search-space file against the known tasks and models, and its storage path. Raises InputError.

    >>> load_checked("search_spaces/quickstart.yaml").targets
    ['xnli', 'pawsx']
    """
    space = load_space(path, models=list(ZOO), intermediate_tasks=INTERMEDIATE_TASKS, targets=TARGET_TASKS,
                       task_sources=TASK_SOURCES)
    overrides = {key: value for key, value in (("storage", storage), ("name", name)) if value is not None}
    if overrides:
        space = parse_space({**space.model_dump(mode="json"), **overrides}, source=str(path), models=list(ZOO),
                            intermediate_tasks=INTERMEDIATE_TASKS, targets=TARGET_TASKS, task_sources=TASK_SOURCES)
    check_writable(space.storage, key_path="storage", file=str(path))
    check_tracking(space.tracking, str(path))
    check_fits(space, str(path))
    retrieval_layers(space, str(path))
    check_equalise(space, str(path))
    return space


def retrieval_layers(space: SearchSpace, source: str) -> dict[str, int]:
    """The hidden layer each model embeds the searched retrieval targets with (none searched: empty); an explicit
    `retrieval.layer` deeper than a model is a one-line InputError.

    >>> retrieval_layers(load_checked("search_spaces/scaling.yaml"), "scaling.yaml")
    {'large': 14, 'xl': 21, 'xxl': 28}
    """
    from raytl.tasks.formats import FORMATS  # here, not at the top: formats load torch, and bad input must fail fast

    if not any(FORMATS[TASKS[target].format].target_phase == "embed" for target in space.targets):
        return {}
    try:
        return {name: retrieval_layer(entry, space.retrieval.layer) for name, entry in entries(space).items()}
    except ValueError as exc:
        raise InputError(f"{source}: retrieval.layer: {exc}") from None


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
        *describe_trials(space),
        *_first_pass_lines(space),
        f"  at most {space.search.max_concurrent_trials} trials at once; scheduler: {space.scheduler.type}",
        f"  each trial: {res.num_workers} Ray Train workers x ({res.cpus_per_worker:g} CPU, "
        f"{res.gpus_per_worker:g} GPU), DeepSpeed ZeRO {space.deepspeed.zero_stage}, precision "
        f"{space.deepspeed.precision}",
        "  models:",
        *_model_lines(space),
        "  phases of a trial:",
        f"    1. intermediate, one of: {', '.join(space.intermediate_tasks)}; "
        f"{_length(space.intermediate)}; lr {_lrs(space, space.intermediate)}"
        f"; trained once per (model, task, lr, seed) and shared across trials",
        *_equalise_lines(space),
        f"    2. target (English): {', '.join(space.targets)}; {_length(space.target)}; "
        f"lr {_lrs(space, space.target)}",
        *(f"       {t}: {_length(space.target_phase(t))}, batch {space.target_phase(t).batch_size}, max length "
          f"{space.target_phase(t).max_length}, lr {_lrs(space, space.target_phase(t))}"
          for t in space.targets if t in space.target_overrides),
        f"    3. selection: {SELECTION_TEXT[space.selection]}; the objective (what Optuna, the scheduler, winners "
        "and reports' best read) is the mean dev score over the targets:",
        *(f"       {t}: dev {_dev_text(TASKS[t], space.selection)}" for t in space.targets),
        "    4. test, scored once per trial for the selected checkpoint and only reported:",
        *(f"       {t}: {TASKS[t].metric}, {len(TASKS[t].languages)} languages: {' '.join(TASKS[t].languages)}"
          for t in space.targets),
        f"  distinct intermediate phases at most: {len(intermediates) * len(space.models) * len(space.seeds)}"
        " x learning rates tried",
        f"  data (default {space.data.source}" + (f", dir {space.data.dir}" if space.data.dir else "") + "), per task:",
        *(f"    {task}: {_origin(space, task)}" for task in space.searched_tasks()),
    ]
    return "\n".join(lines + _memory_lines(space) + describe_cost(space) + describe_rank_cost(space))


SELECTION_TEXT = {
    "en_dev": "en_dev, English dev (XTREME's protocol, truly zero-shot)",
    "target_dev": "target_dev, the targets' dev sets in their test languages (labelled target-language data: not "
    "zero-shot model selection)",
}


def _dev_text(task: Task, selection: str) -> str:
    """Where a target's selection score comes from, e.g. `validation en (accuracy)`."""
    dev_task = TASKS[task.dev_from or task.name]
    languages = dev_task.selection_languages(selection)
    source = f"{dev_task.name} " if dev_task is not task else ""
    shown = " ".join(languages) if len(languages) <= 8 else f"{len(languages)} languages"
    return f"{source}validation {shown} ({dev_task.dev_key if languages == ('en',) else 'task score'})"


def _memory_lines(space: SearchSpace) -> list[str]:
    available = gpu_bytes(space)
    limit = f"{available / GIB:.1f} GiB per worker" if available else "no resources.gpu_memory_gb set"
    return [f"  estimated memory per GPU ({limit}; see raytl/training/memory.py):",
            *(f"    {row.line()}" for row in check_fits(space, "plan"))]


def _lrs(space: SearchSpace, phase: PhaseConfig) -> str:
    """The searched (log) learning-rate range per model: `large [1e-05, 4e-05], xl [4e-06, 1.6e-05]`."""
    ranges = {model: phase.lr_range(model) for model in space.models}
    if len({(r.low, r.high) for r in ranges.values()}) == 1:
        only = next(iter(ranges.values()))
        return f"in [{only.low:g}, {only.high:g}] (log)"
    return "(log) " + ", ".join(f"{model} [{r.low:g}, {r.high:g}]" for model, r in ranges.items())


def _model_lines(space: SearchSpace) -> list[str]:
    layers = retrieval_layers(space, "plan")
    return [f"    {name}: {_source(entry)} ({size_label(entry.params)} parameters)"
            + (f"; retrieval: layer {layers[name]} of {entry.layers}" if name in layers else "")
            for name, entry in entries(space).items()]


def _source(entry: ModelEntry) -> str:
    if entry.hub_id is None:
        return "built from config"
    return entry.hub_id + (f"@{entry.revision}" if entry.revision else "")


def _origin(space: SearchSpace, task: str) -> str:
    source = space.data.source_for(task)
    directory = space.data.dir if source == "local" else None
    places = [str(directory / place) if directory else place for place in TASKS[task].origins(source)]
    return f"{source} ({', '.join(places)})" if places else source


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


def _first_pass_lines(space: SearchSpace) -> list[str]:
    if space.search.first_pass != "halving":
        return []
    from raytl.search.first_pass import halving_line  # imports Optuna and the formats: after validation only

    return [halving_line(space)]
