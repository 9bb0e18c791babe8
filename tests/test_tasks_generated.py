"""Generated data is written in each source's exact hub schema and carries learnable signal."""

from __future__ import annotations

import random

import pytest

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import lexicon, render
from raytl.tasks.loading import load_examples

DATA = DataConfig(source="generated", generated_train_size=64, generated_eval_size=16)


@pytest.mark.parametrize("name", ["mnli", "qqp", "xnli", "pawsx"])
def test_generated_rows_use_the_real_schema(name: str) -> None:
    task = TASKS[name]
    for split, source in task.sources.items():
        lang = "en" if split == "train" else task.languages[-1]
        rows = FORMATS[task.format].generate(task, lang, 5, random.Random(0))
        table = render(rows, source, task, lang)
        assert list(table) == list(source.features)
        for column, dtype in source.features.items():
            python_type = str if dtype == "string" else int
            assert all(isinstance(value, python_type) for value in table[column]), (name, split, column)


def test_xnli_labels_are_strings_and_filter_by_language() -> None:
    task = TASKS["xnli"]
    table = render([{"text_a": "a", "text_b": "b", "label": 2}], task.source("test"), task, "de")
    assert table["gold_label"] == ["contradiction"] and table["language"] == ["de"]
    examples = load_examples(task, "test", "de", DATA)
    assert examples.column_names == ["text_a", "text_b", "label"] and len(examples) == 16


def test_languages_share_some_stems_but_not_all() -> None:
    english, german = lexicon("en"), lexicon("de")
    shared = sum(de.startswith(en) for en, de in zip(english, german, strict=True))
    assert 0.3 * len(english) < shared < 0.7 * len(english)


def test_unknown_language_and_missing_column_errors() -> None:
    with pytest.raises(InputError, match="task 'pawsx', split 'test', language 'ar': unknown language"):
        load_examples(TASKS["pawsx"], "test", "ar", DATA)


def test_a_dataset_with_a_missing_column_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import Dataset

    from raytl.tasks import loading

    broken = Dataset.from_dict({"premise": ["a"], "label": [0], "idx": [0]})
    monkeypatch.setitem(loading._READERS, "hub", lambda *args: broken)
    with pytest.raises(InputError, match="task 'mnli', split 'train', language 'en': column 'hypothesis' is missing"):
        load_examples(TASKS["mnli"], "train", "en", DataConfig(source="hub"))
