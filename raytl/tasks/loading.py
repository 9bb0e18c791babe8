"""Load one (task, split, language) as canonical rows, from the hub, original files, or the generator: the task's
own source, `data.source_for(task.name)`.

Every path checks the real schema first, so a data set with missing columns, an empty split or a language the
task does not have fails with one `InputError` naming task, split, language and column.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.tasks.entry import ISO3, HubSource, Split, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import render, stable_seed
from raytl.tasks.labels import with_labels
from raytl.tasks.readers import READERS
from raytl.tasks.shapes import SHAPES

datasets.disable_progress_bars()


def load_examples(task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    """Canonical rows (the format's columns) of one split and language.

    >>> from raytl.tasks import TASKS
    >>> rows = load_examples(TASKS["xnli"], "test", "de", DataConfig(source="generated", generated_eval_size=8))
    >>> rows.column_names, rows.num_rows
    (['text_a', 'text_b', 'label'], 8)
    """
    where = f"task '{task.name}', split '{split}', language '{lang}'"
    if lang not in task.languages and not (split == "train" and lang in task.train_languages):
        raise InputError(f"{where}: unknown language; allowed: {', '.join(task.languages)}")
    if split not in task.sources:
        raise InputError(f"{where}: no such split; allowed: {', '.join(task.sources)}")
    task = with_labels(task, data)
    # every source of the split is read (ANLI+: five), from the hub, its original file or the generator
    parts = [_load_part(task, split, lang, data, source, index) for index, source in enumerate(task.parts(split))]
    rows = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    cap = data.max_eval_examples if split != "train" else None
    return rows.select(range(min(cap, len(rows)))) if cap else rows


def _load_part(task: Task, split: Split, lang: str, data: DataConfig, source: HubSource, index: int) -> Dataset:
    where = f"task '{task.name}', split '{split}', language '{lang}'" + (f", source {source.path}" if index else "")
    raw = _READERS[data.source_for(task.name)](task, split, lang, data, source, index)
    missing = [column for column in source.features if column not in raw.column_names]
    if missing:
        raise InputError(f"{where}: column '{missing[0]}' is missing; expected columns: {', '.join(source.features)}")
    for column, value in source.where_for(lang).items():
        raw = raw.filter(lambda row, c=column, v=value: row[c] == v)
    for column, prefix in source.prefix_for(lang).items():
        raw = raw.filter(lambda values, p=prefix: [v.startswith(p) for v in values], input_columns=column, batched=True)
    if source.unlabelled is not None:
        raw = raw.filter(lambda value, u=source.unlabelled: value != u, input_columns=source.columns["label"])
    if len(raw) == 0:
        raise InputError(f"{where}: the split is empty")
    return canonical(raw, task, source, where)


def canonical(raw: Dataset, task: Task, source: HubSource, where: str) -> Dataset:
    """Hub-schema rows -> canonical rows: rename, apply the task's shape, map labels (and tags) to indices."""
    columns = {hub: name for name, hub in source.columns.items()}
    rows = raw.select_columns(list(columns)).rename_columns(columns)
    if task.shape:
        try:
            rows = rows.map(SHAPES[task.shape].read, remove_columns=rows.column_names)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    for column in ("label", "tags"):
        if column in rows.column_names:
            rows = rows.remove_columns(column).add_column(column, _indices(rows[column], task, f"{where}, {column}"))
    return rows


def _indices(values: list, task: Task, where: str) -> list:
    try:
        return [[task.label_index(v) for v in value] if isinstance(value, list) else task.label_index(value)
                for value in values]
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _from_hub(task: Task, split: Split, lang: str, data: DataConfig, source: HubSource, index: int) -> Dataset:
    if not source.path:
        raise InputError(f"task '{task.name}': no public hub copy; use data.sources.{task.name}: local or generated")
    raw = datasets.load_dataset(source.path, source.config_for(lang), split=source.split, revision=source.revision)
    _check_label_names(raw, task, source)
    return raw


def _check_label_names(raw: Dataset, task: Task, source: HubSource) -> None:
    """A hub ClassLabel column stores indices: its names must be the task's labels in the same order."""
    for column in (source.columns.get("label"), source.columns.get("tags")):
        feature = raw.features.get(column) if column else None
        names = getattr(getattr(feature, "feature", feature), "names", None)
        if names is not None and tuple(names) != task.labels:
            raise InputError(f"task '{task.name}': {source.path} column '{column}' has labels {', '.join(names)}; "
                             f"the entry lists {', '.join(task.labels)}")


def _generated(task: Task, split: Split, lang: str, data: DataConfig, source: HubSource, index: int) -> Dataset:
    count = data.generated_train_size if split == "train" else data.generated_eval_size
    count = -(-count // len(task.parts(split)))  # a multi-source split shares its size among its sources
    rng = random.Random(stable_seed("examples", task.name, split, lang, *([index] if index else [])))
    rows = FORMATS[task.format].generate(task, lang, count, rng)
    if task.shape:
        rows = [SHAPES[task.shape].write(row) for row in rows]
    return Dataset.from_dict(render(rows, source, task, lang))


def _from_directory(task: Task, split: Split, lang: str, data: DataConfig, source: HubSource, index: int) -> Dataset:
    files = task.local_parts(split)
    if len(files) != len(task.parts(split)):
        where = f"task '{task.name}', split '{split}'"
        raise InputError(f"{where}: no original-file layout is known; allowed: {', '.join(task.data_sources())}")
    local = files[index]
    path = Path(data.dir or ".") / local.path.format(lang=lang, iso3=ISO3.get(lang, lang))
    if not path.exists():
        expected = " ".join((READERS[local.reader].__doc__ or "").split("\n\n")[0].split())
        raise InputError(f"task '{task.name}', split '{split}', language '{lang}': not found: {path} ({expected})")
    return READERS[local.reader](path, task, split, lang)


_READERS = {"hub": _from_hub, "generated": _generated, "local": _from_directory}


def count_local(task: Task, directory: Path) -> dict[str, dict[str, int]]:
    """Examples per split and language in the task's original files under `directory` (train in its train
    languages, English for most tasks); files
    that are not there are listed under "missing" instead of failing the whole count."""
    data = DataConfig(source="local", dir=directory)
    counts: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for split in task.local:
        for lang in task.train_languages if split == "train" else task.languages:
            paths = [Path(directory) / local.path.format(lang=lang, iso3=ISO3.get(lang, lang))
                     for local in task.local_parts(split)]
            absent = [str(path) for path in paths if not path.exists()]
            if absent:
                missing.extend(absent)
                continue
            counts.setdefault(split, {})[lang] = len(load_examples(task, split, lang, data))  # type: ignore[arg-type]
    if not counts:
        raise InputError(f"task '{task.name}': no original file of it in {directory}; expected e.g. {missing[0]}")
    return {**counts, **({"missing": missing} if missing else {})}


def seeded_sample(examples: Dataset, n: int, seed: int, where: str) -> Dataset:
    """Exactly `n` rows drawn without replacement with `seed` (kept in their original order): the same count for
    every task under `intermediate.equalise.examples`. Fewer than `n` rows is an `InputError` naming `where`.

    >>> list(seeded_sample(Dataset.from_dict({"x": list(range(10))}), 3, 0, "demo")["x"])
    [0, 6, 9]
    """
    if len(examples) < n:
        raise InputError(f"{where}: {len(examples):,} training examples, fewer than intermediate.equalise.examples "
                         f"({n:,}); allowed: at most the smallest task's count")
    return examples.select(sorted(random.Random(seed).sample(range(len(examples)), n)))
