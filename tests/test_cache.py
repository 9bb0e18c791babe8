"""Loaded and tokenised data is cached on disk: the second request does not load or tokenise again."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from raytl.config import parse_space
from raytl.pipeline import context as phases
from raytl.pipeline.cache import cache_key, cached
from raytl.pipeline.context import TrialContext
from raytl.pipeline.phase_id import TrialParams
from raytl.pipeline.run_dir import RunDir
from raytl.tasks import TASKS
from raytl.training.distributed import Ranks
from tests.conftest import tiny_space


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_request_is_served_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = TrialContext(parse_space(tiny_space(tmp_path)), TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1),
                    RunDir(tmp_path / "run"), "t0")
    calls: list[str] = []
    real = phases.load_examples
    monkeypatch.setattr(phases, "load_examples", lambda *args: calls.append(args[1]) or real(*args))
    first = phases.encoded(worker, TASKS["xnli"], "test", "de", 48)
    second = phases.encoded(worker, TASKS["xnli"], "test", "de", 48)
    assert calls == ["test"], "the second request must not load or tokenise"
    assert first[1] == second[1] and first[0]["text_a"] == second[0]["text_a"]
    phases.encoded(worker, TASKS["xnli"], "test", "de", 32)  # another max length is another entry
    assert calls == ["test", "test"]


def test_key_depends_on_every_part() -> None:
    base = {"task": "xnli", "split": "test", "lang": "de", "max_length": 48}
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))
    assert len({cache_key(**{**base, key: "other"}) for key in base} | {cache_key(**base)}) == len(base) + 1


def test_an_existing_entry_wins_a_race(cache_dir: Path) -> None:
    build = lambda: (Dataset.from_dict({"a": [1]}), Dataset.from_dict({"input_ids": [[0, 2]]}))  # noqa: E731
    cached("k" * 64, build)
    examples, features = cached("k" * 64, lambda: pytest.fail("rebuilt"))
    assert examples["a"] == [1] and features["input_ids"] == [[0, 2]]
