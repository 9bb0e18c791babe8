"""docs/reference/tasks.md: every task of the catalog (raytl/tasks/catalog.py) with its format, metric, languages,
data sources, hub datasets and original files, and the complexity of the intermediate tasks."""

from __future__ import annotations

from raytl.tasks import TASKS, Task
from raytl.tasks.entry import HubSource
from scripts.markdown_text import anchor, table

SPLITS = ("train", "validation", "test")


def _hub(source: HubSource) -> str:
    if not source.path:
        return "no public copy"
    config = f" `{source.config}`" if source.config else ""
    revision = f" at `{source.revision}`" if source.revision else ""
    return f"`{source.path}`{config} split `{source.split}`{revision}"


def _splits(task: Task) -> list[str]:
    """One line per split: its hub source(s), then its original files."""
    lines = []
    for split in (s for s in SPLITS if s in task.sources):
        hub = " + ".join(_hub(part) for part in task.parts(split))
        files = " + ".join(f"`{local.path}`" for local in task.local_parts(split)) or "none"
        lines.append(f"- `{split}`: hub {hub}; original files (under `data.dir`) {files}")
    if task.label_file:
        lines.append(f"- labels read from `{task.label_file}` (under `data.dir`)")
    return lines


def _metric(task: Task) -> str:
    return f"`{task.metric}`" + (f" (selects on `{task.dev_key}`)" if task.dev_key != task.metric else "")


def _languages(task: Task) -> str:
    text = " ".join(task.languages) if len(task.languages) == 1 else f"{len(task.languages)}"
    return text + (f" (trains on {len(task.train_languages)})" if task.train_languages != ("en",) else "")


def _summary() -> str:
    rows = [[f"[`{t.name}`](#{anchor(t.name)})", t.role, t.format, _metric(t), _languages(t),
             ", ".join(t.data_sources()), ", ".join(f"`{path}`" for path in t.origins("hub") if path) or "none"]
            for t in TASKS.values()]
    return table(["task", "role", "format", "metric", "languages", "data.source", "hub datasets"], rows)


def _complexity() -> str:
    rows = [[f"`{t.name}`", t.format + (f" ({t.shape})" if t.shape else ""), t.complexity.reasoning,
             "yes" if t.complexity.adversarial else "no", str(t.complexity.level),
             "the user's data" if t.complexity.train_size is None else f"{t.complexity.train_size:,}", t.group]
            for t in sorted((t for t in TASKS.values() if t.complexity), key=lambda t: (t.complexity.level, t.name))]
    return table(["task", "format", "reasoning", "adversarial", "level", "train size", "report group"], rows)


def _details(task: Task) -> str:
    lines = [f"### {task.name}", "", task.description, ""]
    lines.append(f"- {task.role} task, format `{task.format}`, metric {_metric(task)}")
    lines.append(f"- languages ({len(task.languages)}): {' '.join(task.languages)}")
    if task.train_languages != ("en",):
        lines.append(f"- trains on ({len(task.train_languages)}): {' '.join(task.train_languages)}")
    if task.dev_from:
        lines.append(f"- no dev data of its own: selects on the dev data of [`{task.dev_from}`](#{task.dev_from})")
    elif task.dev_languages != ("en",):
        lines.append(f"- dev languages (`selection: target_dev`): {' '.join(task.dev_languages)}")
    if task.labels:
        lines.append(f"- labels ({len(task.labels)}): {', '.join(task.labels)}")
    if task.complexity:
        lines.append(f"- complexity: {task.complexity.label()}")
    if task.xtreme:
        lines.append(f"- XTREME category `{task.xtreme.category}` (evaluator position {task.xtreme.position})")
    lines.append(f"- `data.source`: {', '.join(task.data_sources())}")
    return "\n".join([*lines, *_splits(task)]) + "\n"


def page() -> str:
    """The whole of docs/reference/tasks.md."""
    return (
        "<!-- Generated from raytl/tasks/catalog.py by `python -m scripts.gen_reference`; do not edit by hand. -->\n"
        "# Tasks\n\n"
        "Every task of the catalog (`raytl/tasks/catalog.py`; `raytl tasks` prints the same list). A search names "
        "intermediate tasks in `intermediate_tasks` and targets in `targets`; `data.source` and `data.sources` "
        "choose where each task is read from (`hub`, `local`: the original files under `data.dir`, or `generated` "
        "offline data in the same schema), and a source a task lacks is refused before anything starts. A "
        "target's languages are in the order of XTREME's evaluator.\n\n"
        + _summary()
        + "\n## Complexity of the intermediate tasks\n\n"
        "The level is the rank of the reasoning type, plus one for data built adversarially; train size is the "
        "English training-set size (see the Tasks guide, \"Task complexity\").\n\n"
        + _complexity()
        + "\n## Each task\n\n" + "\n".join(_details(task) for task in TASKS.values())
    )
