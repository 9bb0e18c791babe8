"""`raytl plan` prints the trials Tune runs: grid x seeds, num_trials with the first pass inside it, per-target
studies; seeds are a grid axis or taken in turn, never chosen by the sampler."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.search.counts import first_pass_size, trial_count
from raytl.search.optuna_searcher import TransferSearch, rdb_storage
from raytl.search.plan import describe, load_checked
from raytl.search.space import num_trials, points_to_evaluate, sampler, search_function
from tests.conftest import ROOT, tiny_space

optuna.logging.set_verbosity(optuna.logging.WARNING)
MODELS = ["tiny", "tiny4"]


def _space(tmp_path: Path, search: dict, seeds: list[int], targets: list[str] | None = None):
    data = tiny_space(tmp_path, models=MODELS, seeds=seeds, targets=targets or ["xnli"], search=search)
    return parse_space(data, models=MODELS)


def _suggest(tmp_path: Path, space, count: int) -> list[dict]:
    searcher = TransferSearch(space=search_function(space), metric="objective", mode="max", sampler=sampler(space),
                              points_to_evaluate=points_to_evaluate(space) or None, study_name=space.name,
                              storage=rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    configs = []
    for i in range(count):
        configs.append(searcher.suggest(str(i)))
        searcher.on_trial_complete(str(i), {"objective": 50.0 + i, "status": "completed", "step": 8})
    return configs


def test_grid_runs_every_model_task_and_seed_once(tmp_path: Path) -> None:
    space = _space(tmp_path, {"algorithm": "grid", "num_trials": 3}, seeds=[0, 1, 2])
    count = trial_count(space)
    assert (count.per_study, count.studies, count.total, count.first_pass) == (12, 1, 12, 0)
    assert num_trials(space) == 12  # what the Tuner gets as num_samples
    cells = [(c["model"], c["intermediate"], c["seed"]) for c in _suggest(tmp_path, space, 12)]
    assert sorted(cells) == sorted((m, t, s) for m in MODELS for t in ("none", "mnli") for s in (0, 1, 2))
    assert "trials: 12 in all = one study (grid: 2 models x 2 intermediate tasks x 3 seed(s)" in describe(space)


def test_optuna_first_pass_counts_inside_num_trials_and_covers_every_seed(tmp_path: Path) -> None:
    space = _space(tmp_path, {"num_trials": 10, "defaults_first": True, "points_to_evaluate": [
        {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 1e-3, "lr_target": 1e-3}]}, seeds=[0, 1])
    count = trial_count(space)
    assert (count.per_study, count.total, count.first_pass, count.unrun_points) == (10, 10, 1 + 2 * 2 * 2, 0)
    assert first_pass_size(space) == len(points_to_evaluate(space))
    configs = _suggest(tmp_path, space, 10)
    assert [c["seed"] for c in configs] == [0, 1] * 5  # in turn, by trial number
    first = [(c["model"], c["intermediate"], c["seed"]) for c in configs[1:9]]
    assert sorted(first) == sorted((m, t, s) for m in MODELS for t in ("none", "mnli") for s in (0, 1))
    text = describe(space)
    assert "trials: 10 in all = one study" in text and "1 explicit points + 8 defaults_first points" in text
    assert "seeds: 0, 1 (trial i of a study uses seed number i mod 2)" in text


def test_first_pass_points_past_num_trials_are_reported_as_never_run(tmp_path: Path) -> None:
    space = _space(tmp_path, {"algorithm": "random", "num_trials": 5, "defaults_first": True}, seeds=[0, 1, 2])
    count = trial_count(space)
    assert (count.total, count.first_pass, count.unrun_points) == (5, 12, 7)
    assert "7 of the 12 first-pass points exceed search.num_trials 5 and never run" in describe(space)


def test_per_target_runs_one_study_per_target(tmp_path: Path) -> None:
    optuna_space = _space(tmp_path, {"mode": "per_target", "num_trials": 6}, seeds=[0], targets=["xnli", "pawsx"])
    assert (trial_count(optuna_space).per_study, trial_count(optuna_space).total) == (6, 12)
    assert "trials: 12 in all = 2 studies (one per target) x 6 trials" in describe(optuna_space)
    grid = _space(tmp_path, {"mode": "per_target", "algorithm": "grid"}, seeds=[0, 1], targets=["xnli", "pawsx"])
    assert trial_count(grid).total == 2 * (2 * 2 * 2)


def test_a_grid_refuses_points_to_evaluate(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="search: search.points_to_evaluate: a grid runs every cell once"):
        parse_space(tiny_space(tmp_path, search={"algorithm": "grid", "points_to_evaluate": [{"model": "tiny"}]}))


def test_scaling_study_is_the_full_design() -> None:
    space = load_checked(ROOT / "search_spaces" / "scaling.yaml")
    assert len(space.targets) == 9 and len(space.seeds) >= 3 and space.search.mode == "per_target"
    assert space.search.algorithm != "grid" and space.search.defaults_first
    count = trial_count(space)
    assert count.unrun_points == 0 and count.first_pass == len(space.models) * len(space.intermediate_tasks) * 3
    for target in ("xnli", "udpos", "xquad", "tydiqa"):
        phase = space.target_phase(target)
        assert set(phase.lr_by_model) == set(space.models), target
        ranges = [phase.lr_range(model) for model in space.models]
        assert all(a.high > b.high for a, b in zip(ranges, ranges[1:], strict=False)), "smaller lr for larger models"
    assert space.target_phase("xquad").max_length == 384 and space.target_phase("xquad").batch_size == 16
    assert space.target_phase("udpos").epochs == 10 and space.target_phase("xnli").epochs == 5
    assert f"trials: {count.total} in all" in describe(space)


@pytest.mark.slow
@pytest.mark.parametrize("search,seeds", [({"algorithm": "grid"}, [0, 1]),
                                          ({"num_trials": 7, "defaults_first": True}, [0, 1, 2])])
def test_tune_runs_exactly_the_planned_trials(tmp_path: Path, search: dict, seeds: list[int]) -> None:
    """The real Tuner config (searcher, num_samples) around a stand-in trial function: Tune runs `trial_count`."""
    import ray
    from ray import tune

    from raytl.search.tuner import tune_config

    space = _space(tmp_path, search, seeds=seeds)
    searcher = TransferSearch(space=search_function(space), metric="objective", mode="max", sampler=sampler(space),
                              points_to_evaluate=points_to_evaluate(space) or None, study_name=space.name,
                              storage=rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        results = tune.Tuner(lambda config: {"objective": 1.0, "status": "completed", "step": 1},
                             tune_config=tune_config(space, searcher),
                             run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), verbose=0)).fit()
    finally:
        ray.shutdown()
    seeds_run = sorted(result.config["seed"] for result in results)
    assert len(results) == trial_count(space).total
    assert seeds_run == sorted(seeds[i % len(seeds)] for i in range(len(results)))  # grid: 2 x 2 x 2 cells
