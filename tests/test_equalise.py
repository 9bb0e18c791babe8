"""`intermediate.equalise`: the same intermediate training for every task (a seeded sample of N examples, or N
steps), validated at the edge, applied where training rows are loaded (and in the cache key), shown by `raytl plan`."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.pipeline import context as phases
from raytl.pipeline.context import TrialContext
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.pipeline.run_dir import RunDir
from raytl.search.plan import describe, load_checked
from raytl.tasks import TASKS
from raytl.training.distributed import Ranks
from tests.conftest import tiny_space, write_space


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _space(tmp_path: Path, equalise: dict | None, **phase: object) -> dict:
    space = tiny_space(tmp_path / "runs", intermediate_tasks=["none", "mnli", "qqp"])
    space["intermediate"] = {**space["intermediate"], **phase, **({"equalise": equalise} if equalise else {})}
    return space


def _worker(tmp_path: Path, space: dict, seed: int = 0) -> TrialContext:
    return TrialContext(parse_space(space), TrialParams("tiny", "mnli", 2e-3, 2e-3, seed), Ranks(0, 1),
                  RunDir(tmp_path / "run"), "t0")


def test_equal_examples_are_a_seeded_sample_of_the_same_count_for_every_task(tmp_path: Path) -> None:
    worker = _worker(tmp_path, _space(tmp_path, {"examples": 100}))
    full = _worker(tmp_path, _space(tmp_path, None))
    for name in ("mnli", "qqp"):
        task = TASKS[name]
        examples, rows = phases.encoded(worker, task, "train", "en", 48)
        everything = phases.encoded(full, task, "train", "en", 48)[0]
        assert len(examples) == len(rows) == 100 < len(everything) == 256
        column = "text_a"
        assert set(examples[column]) <= set(everything[column])
        assert list(examples[column]) != list(everything[column])[:100], "a random sample, not the first rows"
        again = phases.encoded(worker, task, "train", "en", 48)[0]
        assert list(again[column]) == list(examples[column]), "the same seed draws the same rows"
        other = phases.encoded(_worker(tmp_path, _space(tmp_path, {"examples": 100}), seed=1), task, "train", "en", 48)
        assert len(other[0]) == 100 and list(other[0][column]) != list(examples[column]), "the seed is in the key"
    dev = phases.encoded(worker, TASKS["mnli"], "validation", "en", 48)[0]
    target = phases.encoded(worker, TASKS["xnli"], "train", "en", 48)[0]
    assert len(dev) == 48 and len(target) == 256, "only intermediate training rows are equalised"


def test_more_examples_than_a_task_has_is_an_input_error(tmp_path: Path) -> None:
    worker = _worker(tmp_path, _space(tmp_path, {"examples": 300}))
    with pytest.raises(InputError, match=r"task 'mnli', language 'en': 256 training examples, fewer than "
                                         r"intermediate.equalise.examples \(300\)"):
        phases.encoded(worker, TASKS["mnli"], "train", "en", 48)


def test_equal_steps_set_max_steps(tmp_path: Path) -> None:
    space = parse_space(_space(tmp_path, {"steps": 12}, max_steps=None, epochs=3))
    assert space.intermediate.max_steps == 12 and space.intermediate.train_sample(0) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"intermediate": {"equalise": {}}}, "intermediate.equalise: set exactly one key; allowed: {examples: N} or"),
    ({"intermediate": {"equalise": {"examples": 5, "steps": 5}}}, "intermediate.equalise: set exactly one key"),
    ({"intermediate": {"equalise": {"rows": 5}}}, "intermediate.equalise.rows: unknown key; allowed: examples, steps"),
    ({"intermediate": {"equalise": {"examples": 0}}}, "intermediate.equalise.examples: Input should be greater"),
    ({"intermediate": {"equalise": {"steps": 5}, "max_steps": 8}}, "intermediate: max_steps 8 and equalise.steps 5"),
    ({"intermediate": {"equalise": {"examples": 5}, "max_train_examples": 8}}, "both cap the training set"),
    ({"target": {"equalise": {"examples": 5}}}, "target.equalise: only intermediate tasks are equalised"),
])
def test_bad_equalise_names_the_key(tmp_path: Path, change: dict, message: str) -> None:
    space = tiny_space(tmp_path)
    for phase, keys in change.items():
        space[phase] = {**copy.deepcopy(space[phase]), **keys}
    with pytest.raises(InputError) as raised:
        parse_space(space, source="s.yaml")
    assert message in str(raised.value) and str(raised.value).startswith("s.yaml: ")


def test_phase_ids_without_equalise_are_unchanged_and_with_it_differ(tmp_path: Path) -> None:
    plain = parse_space(_space(tmp_path, None))
    assert "equalise" not in plain.intermediate.model_dump()
    sampled = parse_space(_space(tmp_path, {"examples": 100}))
    params = TrialParams("tiny", "mnli", 2e-3, 2e-3, 0)
    assert intermediate_phase_id(plain, params) != intermediate_phase_id(sampled, params)


def test_plan_shows_it_and_checks_the_catalog_sizes(tmp_path: Path) -> None:
    text = describe(load_checked(write_space(tmp_path / "a.yaml", _space(tmp_path, {"examples": 100}))))
    assert "equalised: every intermediate task trains on a seeded random sample of 100 examples" in text
    text = describe(load_checked(write_space(tmp_path / "b.yaml", _space(tmp_path, {"steps": 8}, max_steps=None))))
    assert "equalised: every intermediate task trains 8 optimizer steps" in text
    hub = _space(tmp_path, {"examples": 20_000})
    hub["intermediate_tasks"] = ["none", "mnli", "commonsenseqa"]
    hub["data"] = {"source": "hub"}
    with pytest.raises(InputError, match=r"c.yaml: intermediate.equalise.examples: 20,000 is more than "
                                         r"commonsenseqa's 9,741 training examples; allowed: at most 9,741"):
        load_checked(write_space(tmp_path / "c.yaml", hub))
    hub["intermediate"]["equalise"] = {"examples": 9_741}
    assert "(of mnli 392,702, commonsenseqa 9,741)" in describe(load_checked(write_space(tmp_path / "d.yaml", hub)))
