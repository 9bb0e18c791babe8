"""Label sets read at load time, for tasks whose labels come with the user's data (CCG supertags).

Such a task has empty `labels` and a `label_file`; `with_labels` returns the task with its labels filled in. Every
caller that builds a head or decodes for such a task must use the returned task (`load_examples` does).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.tasks.entry import Task

# Generated data has no user file: a fixed set of CCG-style categories, as many as UPOS tags, so that generated
# CCG and UD-POS (world "syntax") share one partition of the lexicon and transfer.
GENERATED_LABELS = (
    "N", "NP", "N/N", "NP[nb]/N", "S[dcl]\\NP", "(S[dcl]\\NP)/NP", "(S\\NP)\\(S\\NP)", "PP/NP", "(NP\\NP)/NP",
    "conj", ".", ",", "S[b]\\NP", "(S[to]\\NP)/(S[b]\\NP)", "S[pss]\\NP", "(S[b]\\NP)/NP", "S[adj]\\NP",
)


def with_labels(task: Task, data: DataConfig) -> Task:
    """The task with its labels: unchanged when the entry lists them, else read from `data.dir / task.label_file`.

    >>> from raytl.tasks import TASKS
    >>> TASKS["ccg"].labels, with_labels(TASKS["ccg"], DataConfig(source="generated")).labels[:2]
    ((), ('N', 'NP'))
    """
    if task.labels or not task.label_file:
        return task
    source = data.source_for(task.name)
    if source == "generated":
        return replace(task, labels=GENERATED_LABELS)
    if source == "hub":
        raise InputError(f"task '{task.name}': no public hub copy (licensed data); use data.sources.{task.name}: "
                         f"local with the files under data.dir (see the task's description), or generated")
    return replace(task, labels=read_label_file(Path(data.dir or ".") / task.label_file, task))


def read_label_file(path: Path, task: Task) -> tuple[str, ...]:
    """One label per line (blank lines skipped), in index order; duplicates and an empty list are errors."""
    if not path.is_file():
        raise InputError(f"task '{task.name}': label file not found: {path}; it lists the task's labels, one per "
                         f"line ({task.description})")
    labels: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        label = line.strip()
        if label in labels:
            raise InputError(f"{path}: line {number}: label '{label}' is listed twice")
        if label:
            labels.append(label)
    if not labels:
        raise InputError(f"{path}: no labels (expected one label per line)")
    return tuple(labels)
