"""The hub path (what clusters use) runs offline against a stand-in for `datasets.load_dataset` that serves rows in
each source's exact schema: every task asks for the right repository, config, split and revision, and loads."""

from __future__ import annotations

import random

import pytest
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.tasks import TASKS
from raytl.tasks import loading as loading_module
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import render
from raytl.tasks.labels import with_labels
from raytl.tasks.shapes import SHAPES

HUB = DataConfig(source="hub")
HUB_TASKS = [name for name, task in TASKS.items() if all(source.path for source in task.sources.values())]


@pytest.fixture
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []

    def load_dataset(path: str, name: str | None = None, split: str | None = None, revision: str | None = None):
        calls.append((path, name, split, revision))
        task, sources, lang = _serving
        source = next(s for s in sources if (s.path, s.config_for(lang), s.split) == (path, name, split))
        rows = FORMATS[task.format].generate(task, lang, 4, random.Random(0))
        if task.shape:
            rows = [SHAPES[task.shape].write(row) for row in rows]
        return Dataset.from_dict(render(rows, source, task, lang))

    monkeypatch.setattr(loading_module.datasets, "load_dataset", load_dataset)
    return calls


_serving: tuple = ()


@pytest.mark.parametrize("name", HUB_TASKS)
def test_every_split_asks_the_hub_for_its_source(name: str, hub_calls: list[tuple]) -> None:
    global _serving
    task = with_labels(TASKS[name], DataConfig(source="generated"))
    for split in task.sources:
        lang = task.train_languages[-1] if split == "train" else task.languages[-1]
        parts = task.parts(split)  # type: ignore[arg-type]
        _serving = (task, parts, lang)
        hub_calls.clear()
        examples = loading_module.load_examples(task, split, lang, HUB)  # type: ignore[arg-type]
        assert len(examples) > 0
        assert hub_calls == [(s.path, s.config_for(lang), s.split, s.revision) for s in parts]


def test_a_task_without_a_public_copy_says_so() -> None:
    with pytest.raises(InputError, match="no public hub copy|licensed"):
        loading_module.load_examples(TASKS["ccg"], "train", "en", HUB)
