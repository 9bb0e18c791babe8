"""Load one (task, split, language) as canonical rows, from the hub, original files, or the generator.

Every path checks the real schema first, so a data set with missing columns, an empty split or a language the
task does not have fails with one `InputError` naming task, split, language and column.
"""

from __future__ import annotations

import random
from pathlib import Path

import datasets
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.tasks.entry import Split, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import render, stable_seed
from raytl.tasks.readers import ISO3, READERS

datasets.disable_progress_bars()


def load_examples(task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    """Canonical rows (the format's columns) of one split and language.

    >>> load_examples(TASKS["xnli"], "test", "de", DataConfig(source="generated"))  # doctest: +SKIP
    Dataset({features: ['text_a', 'text_b', 'label'], num_rows: 200})
    """
    where = f"task '{task.name}', split '{split}', language '{lang}'"
    if lang not in task.languages and not (split == "train" and lang == "en"):
        raise InputError(f"{where}: unknown language; allowed: {', '.join(task.languages)}")
    if split not in task.sources:
        raise InputError(f"{where}: no such split; allowed: {', '.join(task.sources)}")
    source = task.source(split)
    raw = _READERS[data.source](task, split, lang, data)
    missing = [column for column in source.features if column not in raw.column_names]
    if missing:
        raise InputError(f"{where}: column '{missing[0]}' is missing; expected columns: {', '.join(source.features)}")
    for column, value in source.where_for(lang).items():
        raw = raw.filter(lambda row, c=column, v=value: row[c] == v)
    for column, prefix in source.prefix_for(lang).items():
        raw = raw.filter(lambda values, p=prefix: [v.startswith(p) for v in values], input_columns=column, batched=True)
    if len(raw) == 0:
        raise InputError(f"{where}: the split is empty")
    return _canonical(raw, task, split, lang, data)


def _canonical(raw: Dataset, task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    source = task.source(split)
    columns = {hub: canonical for canonical, hub in source.columns.items()}
    rows = raw.select_columns(list(columns)).rename_columns(columns)
    if "label" in rows.column_names:
        try:
            labels = [task.label_index(value) for value in rows["label"]]
        except ValueError as exc:
            raise InputError(f"task '{task.name}', split '{split}', language '{lang}', column 'label': {exc}") from None
        rows = rows.remove_columns("label").add_column("label", labels)
    cap = data.max_eval_examples if split != "train" else None
    return rows.select(range(min(cap, len(rows)))) if cap else rows


def _from_hub(task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    source = task.source(split)
    return datasets.load_dataset(
        source.path, source.config_for(lang), split=source.split, revision=source.revision
    )


def _generated(task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    count = data.generated_train_size if split == "train" else data.generated_eval_size
    rng = random.Random(stable_seed("examples", task.name, split, lang))
    rows = FORMATS[task.format].generate(task, lang, count, rng)
    return Dataset.from_dict(render(rows, task.source(split), task, lang))


def _from_directory(task: Task, split: Split, lang: str, data: DataConfig) -> Dataset:
    if split not in task.local:
        where = f"task '{task.name}', split '{split}'"
        raise InputError(f"{where}: no original-file layout is known; allowed: hub, generated")
    local = task.local[split]
    path = Path(data.dir or ".") / local.path.format(lang=lang, iso3=ISO3.get(lang, lang))
    if not path.is_file():
        raise InputError(f"task '{task.name}', split '{split}', language '{lang}': file not found: {path}")
    return READERS[local.reader](path, task, split, lang)


_READERS = {"hub": _from_hub, "generated": _generated, "local": _from_directory}
