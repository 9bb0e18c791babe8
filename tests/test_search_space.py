"""Search-space features without Ray: conditional learning-rate ranges, per-target overrides, grid and first-pass
points through the real searcher, scheduler choice, budgets, per-target winners and seed statistics."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import optuna
import pandas as pd
import pytest

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.search.budget import GpuHourStopper
from raytl.search.optuna_searcher import TransferSearch, rdb_storage
from raytl.search.per_target import winners
from raytl.search.plan import load_checked
from raytl.search.rerun import spread
from raytl.search.space import num_trials, points_to_evaluate, sampler, search_function
from raytl.search.target_study import target_space
from raytl.search.tuner import horizon, scheduler
from tests.conftest import ROOT, tiny_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(tmp_path: Path, search: dict | None = None, **overrides):
    data = tiny_space(tmp_path, models=["tiny", "tiny4"], **overrides)
    data["search"] = {"num_trials": 4, **(search or {})}
    return parse_space(data, models=["tiny", "tiny4"])


def _searcher(tmp_path: Path, space) -> TransferSearch:
    return TransferSearch(space=search_function(space), metric="objective", mode="max", sampler=sampler(space),
                          points_to_evaluate=points_to_evaluate(space) or None, study_name=space.name,
                          storage=rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))


def test_learning_rate_range_depends_on_the_model(tmp_path: Path) -> None:
    by_model = {"tiny4": {"low": 1e-5, "high": 2e-5}}
    space = _space(tmp_path, search={"algorithm": "random", "num_trials": 40},
                   target={**tiny_space(tmp_path)["target"], "lr_by_model": by_model})
    searcher = _searcher(tmp_path, space)
    configs = [searcher.suggest(str(i)) for i in range(40)]
    for config in configs:
        low, high = (1e-5, 2e-5) if config["model"] == "tiny4" else (1e-3, 3e-3)
        assert low <= config["lr_target"] <= high, config
        assert ("lr_intermediate" in config) == (config["intermediate"] != "none")
    assert {c["model"] for c in configs} == {"tiny", "tiny4"}
    assert space.target.default_lr("tiny4") == pytest.approx(math.sqrt(2e-10))


def test_grid_runs_every_model_and_intermediate_once_at_default_lrs(tmp_path: Path) -> None:
    space = _space(tmp_path, search={"algorithm": "grid", "defaults_first": True})
    assert num_trials(space) == 4 and points_to_evaluate(space) == []  # the grid is its own first pass
    searcher = _searcher(tmp_path, space)
    configs = [searcher.suggest(str(i)) for i in range(4)]
    for i, _ in enumerate(configs):
        searcher.on_trial_complete(str(i), {"objective": 50.0 + i, "status": "completed", "step": 8})
    assert sorted((c["model"], c["intermediate"]) for c in configs) == [
        ("tiny", "mnli"), ("tiny", "none"), ("tiny4", "mnli"), ("tiny4", "none")]
    for config in configs:
        assert config["lr_target"] == pytest.approx(math.sqrt(1e-3 * 3e-3))
        assert config.get("lr_intermediate") == (None if config["intermediate"] == "none" else config["lr_target"])
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4


def test_defaults_first_points_follow_explicit_ones(tmp_path: Path) -> None:
    explicit = {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 1e-3, "lr_target": 1e-3}
    space = _space(tmp_path, search={"defaults_first": True, "points_to_evaluate": [explicit]})
    points = points_to_evaluate(space)
    assert points[0] == explicit and len(points) == 1 + 4
    assert [(p["model"], p["intermediate"]) for p in points[1:]] == [
        ("tiny", "none"), ("tiny", "mnli"), ("tiny4", "none"), ("tiny4", "mnli")]
    searcher = _searcher(tmp_path, space)
    proposed = [searcher.suggest(str(i)) for i in range(5)]
    assert [(p["model"], p["intermediate"]) for p in proposed] == [(p["model"], p["intermediate"]) for p in points]


def test_target_overrides_apply_per_target(tmp_path: Path) -> None:
    data = tiny_space(tmp_path, targets=["xnli", "xquad"],
                      target_overrides={"xquad": {"max_steps": 3, "max_length": 96, "weight_decay": 1e-4}})
    space = parse_space(data)
    xquad, xnli = space.target_phase("xquad"), space.target_phase("xnli")
    assert (xquad.max_steps, xquad.max_length, xquad.weight_decay, xquad.batch_size) == (3, 96, 1e-4, 16)
    assert xnli == space.target and horizon(space) == 8 + 3
    epochs = parse_space(tiny_space(tmp_path, target_overrides={"xnli": {"epochs": 2}})).target_phase("xnli")
    assert (epochs.epochs, epochs.max_steps) == (2, None)


@pytest.mark.parametrize("overrides,message", [
    ({"target_overrides": {"pawsx": {"epochs": 2}}}, "target_overrides: 'pawsx' is not a target"),
    ({"target_overrides": {"xnli": {"lr": {"low": 1e-5, "high": 2e-5}}}}, "a per-target lr needs search.mode"),
    ({"target_overrides": {"xnli": {"max_lenght": 3}}}, "target_overrides.xnli.max_lenght: unknown key"),
])
def test_override_mistakes_name_the_key(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_space(tiny_space(tmp_path, **overrides))


def test_lr_by_model_names_a_searched_model(tmp_path: Path) -> None:
    target = {**tiny_space(tmp_path)["target"], "lr_by_model": {"large": {"low": 1e-5, "high": 2e-5}}}
    with pytest.raises(InputError, match="target.lr_by_model: 'large' is not searched"):
        parse_space(tiny_space(tmp_path, target=target))


def test_per_target_space_folds_its_overrides(tmp_path: Path) -> None:
    data = tiny_space(tmp_path, targets=["xnli", "pawsx"], search={"mode": "per_target"},
                      target_overrides={"pawsx": {"lr": {"low": 1e-5, "high": 4e-5}, "max_steps": 4}})
    space = parse_space(data)
    pawsx = target_space(space, "pawsx")
    assert pawsx.name == "t.pawsx" and pawsx.targets == ["pawsx"] and pawsx.target_overrides == {}
    assert (pawsx.target.lr.low, pawsx.target.max_steps) == (1e-5, 4)
    assert target_space(space, "xnli").target == space.target


def test_scheduler_choices(tmp_path: Path) -> None:
    asha = scheduler(_space(tmp_path, scheduler={"type": "asha", "reduction_factor": 2}))
    hyperband = scheduler(_space(tmp_path, scheduler={"type": "hyperband", "brackets": 2, "max_t": 64}))
    assert len(asha._brackets) == 1 and len(hyperband._brackets) == 2
    assert hyperband._max_t == 64 and asha._max_t == 8  # default horizon: the targets' max_steps
    assert type(scheduler(_space(tmp_path))).__name__ == "FIFOScheduler"


def test_gpu_hour_stopper_counts_restarts_and_survives_pickling(tmp_path: Path) -> None:
    stopper = GpuHourStopper(budget_hours=1.0, gpus_per_trial=4, ledger=tmp_path / "gpu_hours.json")
    stopper("a", {"time_total_s": 300.0})
    stopper("a", {"time_total_s": 600.0})  # 600 s x 4 GPUs = 0.67 h
    assert not stopper.stop_all()
    restored = pickle.loads(pickle.dumps(stopper))  # as after `raytl resume`: the ledger is read back
    restored("a", {"time_total_s": 120.0})  # the trial restarted: its clock began again
    assert restored.used_hours() == pytest.approx((600 + 120) * 4 / 3600) and not restored.stop_all()
    restored("b", {"time_total_s": 200.0})
    assert restored.used_hours() == pytest.approx(920 * 4 / 3600) and restored.stop_all()


def test_winners_pick_the_best_completed_trial_per_target() -> None:
    rows = [("a", "xnli", "mnli", 60.0, "completed"), ("b", "xnli", "qqp", 70.0, "stopped"),
            ("c", "xnli", "none", 55.0, "completed"), ("d", "pawsx", "qqp", 80.0, "completed")]
    table = pd.DataFrame([{"trial_id": t, "target": g, "model": "tiny", "intermediate": i, "lr_intermediate": 1e-3,
                           "lr_target": 2e-3, "seed": 0, "objective": o, "status": s} for t, g, i, o, s in rows])
    best = winners(table)
    assert {target: w["trial_id"] for target, w in best.items()} == {"xnli": "a", "pawsx": "d"}
    assert best["xnli"]["objective"] == 60.0 and isinstance(best["xnli"]["seed"], int)


def test_seed_spread() -> None:
    summaries = {seed: {"trial_id": f"t{seed}", "objective": value, "targets": {"xnli": {"score": value}}}
                 for seed, value in ((0, 60.0), (1, 62.0), (2, 64.0))}
    config = {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 1e-3, "lr_target": 2e-3, "seed": 0}
    report = spread("t0", config, summaries, ["xnli"])
    assert report["objective"] == {"n": 3, "mean": 62.0, "std": 2.0, "min": 60.0, "max": 64.0}
    assert report["targets"]["xnli"]["mean"] == 62.0 and sorted(report["seeds"]) == ["0", "1", "2"]
    assert spread("t0", config, {}, ["xnli"])["objective"]["n"] == 0


def test_shipped_search_spaces_use_the_new_modes() -> None:
    phang = load_checked(ROOT / "search_spaces" / "phang2020.yaml")
    assert phang.models == ["large"] and phang.search.mode == "per_target" and len(phang.intermediate_tasks) >= 9
    assert phang.target_phase("xquad").max_length == 384 if "xquad" in phang.targets else True
    scaling = load_checked(ROOT / "search_spaces" / "scaling.yaml")
    assert scaling.models == ["large", "xl", "xxl"] and set(scaling.target.lr_by_model) == {"large", "xl", "xxl"}
    best = load_checked(ROOT / "search_spaces" / "best_per_target.yaml")
    assert best.search.mode == "per_target" and best.search.first_pass == "halving"
    for name in ("phang2020", "best_per_target", "ablations"):  # the recommended per-target design
        assert load_checked(ROOT / "search_spaces" / f"{name}.yaml").search.first_pass == "halving"
    assert {r.low for r in scaling.intermediate.lr_by_model.values()} == {  # one intermediate rate per size
        r.high for r in scaling.intermediate.lr_by_model.values()}
