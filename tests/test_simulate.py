"""`raytl simulate`: the transfer table, the simulated trial's metrics and costs, and one real search (Ray Tune +
TransferSearch + ASHA) that finds a planted best intermediate task within its budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytl.config import NoScheduler, parse_space
from raytl.errors import InputError
from raytl.models.zoo import resolve_model
from raytl.pipeline.progress import Progress, TargetResult, trial_metrics
from raytl.search import sim_trial
from raytl.search.sim_table import Cell, TransferTable, evaluation_rng
from raytl.search.sim_trial import TargetPlan, TrialPlan, simulated_trial
from raytl.search.simulate import Event, analyse, check_simulable, grid_steps, trial_plan
from tests.conftest import tiny_space

TASKS = ["none", "mnli", "qqp"]
PLANTED = {"xnli": "qqp", "pawsx": "mnli"}  # not the tasks the generated data would suggest: truly planted


def planted_table(noise: float = 0.3) -> TransferTable:
    scores = {"none": 60.0, "mnli": 63.0, "qqp": 62.0}
    rows = []
    for target, best in PLANTED.items():
        for task in TASKS:
            score = scores[task] + (5.0 if task == best else 0.0)
            rows.append({"model": "tiny", "intermediate": task, "target": target, "score": score, "noise": noise,
                         "lr_sensitivity": 1.0})
    return TransferTable.from_rows(rows)


def sim_space(tmp_path: Path, **search: object):
    phase = {"lr": {"low": 1e-3, "high": 3e-3}, "max_steps": 40, "batch_size": 16, "eval_every": 10}
    return parse_space(tiny_space(tmp_path, intermediate_tasks=TASKS, targets=list(PLANTED), target=phase,
                                  intermediate={**phase, "max_steps": 30},
                                  search={"num_trials": 8, "max_concurrent_trials": 4, "max_failures": 0, **search},
                                  scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3}))


def test_table_reads_csv_and_json_alike(tmp_path: Path) -> None:
    table = planted_table()
    table.save(tmp_path / "t.csv")
    table.save(tmp_path / "t.json")
    assert TransferTable.load(tmp_path / "t.csv") == TransferTable.load(tmp_path / "t.json") == table
    assert table.best_intermediate("xnli", ["tiny"], TASKS) == "qqp"
    assert table.best_intermediate("xnli", ["tiny"], ["none", "mnli"]) == "mnli"


@pytest.mark.parametrize(("row", "message"), [
    ({"model": "tiny", "intermediate": "mnli", "target": "xnli"}, "missing score"),
    ({"model": "tiny", "intermediate": "mnli", "target": "xnli", "score": "high"}, "not a number"),
    ({"model": "tiny", "intermediate": "mnli", "target": "xnli", "score": 1, "noise": -1}, "noise = -1"),
    ({"model": "tiny", "intermediate": "mnli", "target": "xnli", "score": 1, "tau": 0}, "tau = 0"),
    ({"model": "tiny", "intermediate": "mnli", "target": "xnli", "score": 1, "lr": 1}, "unknown column"),
])
def test_bad_rows_are_named(row: dict, message: str) -> None:
    with pytest.raises(InputError, match=f"row 1: .*{message}"):
        TransferTable.from_rows([row])


def test_space_must_count_steps_and_be_covered(tmp_path: Path) -> None:
    table = planted_table()
    check_simulable(sim_space(tmp_path), table)
    with pytest.raises(InputError, match=r"lacks 2 .* tiny / squadv2 / xnli"):
        check_simulable(sim_space(tmp_path).model_copy(update={"intermediate_tasks": [*TASKS, "squadv2"]}), table)
    epochs = parse_space(tiny_space(tmp_path, target={"lr": {"low": 1e-3, "high": 1e-3}, "epochs": 1}))
    with pytest.raises(InputError, match="set max_steps"):
        check_simulable(epochs, table)


def test_curve_rises_to_the_final_score_and_learning_rate_costs() -> None:
    cell = Cell(score=70.0, lr_sensitivity=2.0, gap=20.0, tau=0.25)
    rng = evaluation_rng(0)
    assert cell.at(70.0, 0, 100, rng) == pytest.approx(50.0)
    assert cell.at(70.0, 25, 100, rng) < cell.at(70.0, 50, 100, rng) < cell.at(70.0, 99, 100, rng) < 70.0
    for gap, tau in [(25.0, 0.4), (15.0, 0.1), (30.0, 1.0)]:  # the truth is what a finished trial sees
        assert Cell(score=70.0, gap=gap, tau=tau).at(70.0, 100, 100, rng) == pytest.approx(70.0)
    assert cell.final([0.0]) == 70.0 and cell.final([0.5, -0.5]) == pytest.approx(69.0)
    noisy = Cell(score=70.0, noise=1.0, gap=0.0)
    values = [noisy.at(70.0, 10, 10, evaluation_rng(seed)) for seed in range(200)]
    assert 0.7 < (sum((v - 70.0) ** 2 for v in values) / len(values)) ** 0.5 < 1.3


def test_simulated_trial_reports_a_real_trials_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    reports: list[dict] = []
    monkeypatch.setattr(sim_trial.tune, "report", reports.append)
    plan = TrialPlan((TargetPlan("xnli", 40, 10, {"tiny": 2e-3}), TargetPlan("tatoeba", 0, 10, {"tiny": 2e-3})),
                     {"tiny": 2e-3}, noise_seed=0)
    table = TransferTable.from_rows([{"model": "tiny", "intermediate": "mnli", "target": t, "score": 60, "noise": 1}
                                     for t in ("xnli", "tatoeba")])
    simulated_trial({"model": "tiny", "intermediate": "mnli", "lr_intermediate": 2e-3, "lr_target": 2e-3,
                     "seed": 0}, plan, table)
    assert [r["step"] for r in reports] == [10, 20, 30, 40, 40]  # the retrieval target trains no steps
    assert [r["status"] for r in reports] == ["running"] * 4 + ["completed"]
    assert [r["targets_done"] for r in reports] == [0, 0, 0, 1, 2]
    xnli = [r["dev:xnli"] for r in reports]
    assert xnli == sorted(xnli), "a target's score is its best evaluation so far"
    space = parse_space(tiny_space(Path("runs"), targets=["xnli", "tatoeba"]))
    real = trial_metrics(space, Progress(completed={t: TargetResult(score=60.0) for t in ("xnli", "tatoeba")}))
    assert set(reports[-1]) == set(real)
    assert reports[-1]["objective"] == pytest.approx((reports[-1]["dev:xnli"] + reports[-1]["dev:tatoeba"]) / 2)


def events_config(intermediate: str, lr: float = 2e-3) -> dict:
    return {"model": "tiny", "intermediate": intermediate, "lr_intermediate": lr, "lr_target": 1e-3, "seed": 0}


def _event(trial: str, step: int, intermediate: str, finished: tuple[str, ...], scores: dict[str, float],
           lr: float = 2e-3) -> Event:
    return Event(trial, events_config(intermediate, lr), step, finished, tuple(PLANTED), scores)


def test_costs_count_shared_intermediate_phases_once_and_find_the_truth(tmp_path: Path) -> None:
    space = sim_space(tmp_path)  # intermediate 30 steps, targets 40 each
    events = [
        _event("a", 10, "mnli", (), {"xnli": 50.0}),
        _event("b", 10, "mnli", (), {"xnli": 51.0}),  # same phase as a: shared, not paid again
        _event("a", 40, "mnli", ("xnli",), {"xnli": 60.0}),
        _event("c", 10, "qqp", (), {"xnli": 55.0}),
        _event("c", 40, "qqp", ("xnli",), {"xnli": 66.0}),
        _event("c", 80, "qqp", ("xnli", "pawsx"), {"xnli": 66.0, "pawsx": 61.0}),
        _event("d", 40, "mnli", ("xnli",), {"xnli": 58.0}, lr=1e-3),  # another lr: another phase
        _event("d", 80, "mnli", ("xnli", "pawsx"), {"xnli": 58.0, "pawsx": 64.0}, lr=1e-3),
    ]
    result = analyse(space, events, dict(PLANTED))
    assert result.steps == 3 * 30 + 40 + 10 + 80 + 80
    assert result.intermediate_steps == 90 and result.trials == 4 and result.stopped == 2
    assert [(c.target, c.intermediate) for c in result.changes] == [
        ("xnli", "mnli"), ("xnli", "qqp"), ("pawsx", "qqp"), ("pawsx", "mnli")]
    assert result.found_at == result.steps  # right only once d finished pawsx
    assert result.truth_trials == {"xnli": [1, 1], "pawsx": [1, 1]}
    assert analyse(space, events[:-1], dict(PLANTED)).found_at is None


def test_flops_price_each_step_by_its_model_and_target(tmp_path: Path) -> None:
    from raytl.search.compute_plan import flops_gpu_hours
    from raytl.search.sim_cost import step_prices
    from raytl.search.simulate import format_report, grid_compute
    from raytl.training.memory import step_flops

    # intermediate 30 steps at length 128; pawsx's steps longer than xnli's
    space = parse_space({**sim_space(tmp_path).model_dump(mode="json"), "models": ["tiny", "tiny4"],
                         "target_overrides": {"pawsx": {"max_length": 256}}})
    prices = step_prices(space, {"xnli": 40, "pawsx": 40})
    entries = {name: resolve_model(name) for name in ("tiny", "tiny4")}
    assert prices.target[("tiny", "pawsx")] == step_flops(entries["tiny"], 16, 256) > prices.target[("tiny", "xnli")]
    assert prices.intermediate["tiny4"] == step_flops(entries["tiny4"], 16, 128) > prices.intermediate["tiny"]
    # a joint trial's steps 30..50 are 10 of xnli's and 10 of pawsx's
    assert prices.target_flops("tiny", ("xnli", "pawsx"), 30, 50) == pytest.approx(
        10 * prices.target[("tiny", "xnli")] + 10 * prices.target[("tiny", "pawsx")])

    events = [_event("a", 40, "mnli", ("xnli",), {"xnli": 60.0}),
              _event("c", 50, "qqp", ("xnli",), {"xnli": 66.0}),
              Event("d", {**events_config("mnli"), "model": "tiny4"}, 40, ("xnli",), tuple(PLANTED), {"xnli": 61.0})]
    result = analyse(space, events, dict(PLANTED))
    expected = (2 * 30 * prices.intermediate["tiny"] + 30 * prices.intermediate["tiny4"]
                + 80 * prices.target[("tiny", "xnli")] + 10 * prices.target[("tiny", "pawsx")]
                + 40 * prices.target[("tiny4", "xnli")])
    assert result.flops == pytest.approx(expected)
    grid = (2 * 30 * (prices.intermediate["tiny"] + prices.intermediate["tiny4"])
            + 3 * 40 * sum(prices.target[(m, t)] for m in ("tiny", "tiny4") for t in PLANTED))
    assert grid_compute(space) == pytest.approx(grid)
    report = format_report(space, [result])
    assert f"~{flops_gpu_hours(space, result.flops):.3g} GPU-hours)" in report and "MFU 0.35" in report


def test_found_is_counted_in_steps_and_flops(tmp_path: Path) -> None:
    space = sim_space(tmp_path)
    events = [_event("c", 40, "qqp", ("xnli",), {"xnli": 66.0}),
              _event("c", 80, "qqp", ("xnli", "pawsx"), {"xnli": 66.0, "pawsx": 61.0}),
              _event("d", 80, "mnli", ("xnli", "pawsx"), {"xnli": 58.0, "pawsx": 64.0}, lr=1e-3)]
    result = analyse(space, events, dict(PLANTED))
    assert result.found_at == result.steps and result.found_at_flops == pytest.approx(result.flops)
    assert analyse(space, events[:2], dict(PLANTED)).found_at_flops is None


def test_grid_steps() -> None:
    space = sim_space(Path("runs"))
    assert grid_steps(space) == 1 * 2 * 30 + 1 * 3 * (40 + 40)
    assert [t.steps for t in trial_plan(space, 0).targets] == [40, 40]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_search_finds_the_planted_best_within_its_budget(tmp_path: Path) -> None:
    """One Ray session: the grid run costs what `grid_steps` says; a per-target TPE + ASHA search finds each
    target's planted task, stops trials early, and tells Optuna those as PRUNED."""
    import ray

    from raytl.search.simulate import simulate

    table = planted_table()
    try:
        grid_space = sim_space(tmp_path, algorithm="grid").model_copy(update={"scheduler": NoScheduler()})
        (grid,) = simulate(grid_space, table)
        assert grid.steps == grid_steps(grid_space) and grid.stopped == 0
        assert grid.optuna_states == {"COMPLETE": 3}
        assert grid.found_at is not None

        results = simulate(sim_space(tmp_path, mode="per_target"), table, seeds=2)
        halving = sim_space(tmp_path, mode="per_target", first_pass="halving", prior="semb", top_k=1, num_trials=2)
        with pytest.raises(InputError, match="no prior for 4 row"):
            simulate(halving, table)
        (prior_run,) = simulate(halving, with_prior(table))
    finally:
        ray.shutdown()
    # the prior puts each target's planted task first: only it and none are tried, at 10 + 30 steps (rungs 10, 40)
    assert prior_run.found_at is not None and prior_run.truth == PLANTED
    assert prior_run.intermediate_phases == 2  # qqp for xnli, mnli for pawsx: one phase each, at the default rate
    first_pass = 2 * (2 * 10 + 1 * 30)  # per target: both candidates to step 10, the better one on to 40
    assert prior_run.found_at <= 2 * 30 + first_pass  # found in the first pass; the study (2 trials each) follows
    for result in results:
        assert result.truth == PLANTED
        assert result.found_at is not None and result.found_at <= result.steps
        assert result.stopped > 0, "ASHA stopped some trials early"
        assert result.optuna_states.get("PRUNED") == result.stopped
        assert result.optuna_states.get("COMPLETE") == 2 * 8 - result.stopped
    json.dumps([vars(r) for r in results], default=vars)  # the CLI's --out is plain data


def with_prior(table: TransferTable) -> TransferTable:
    """The table with a prior that ranks each target's planted task first."""
    return TransferTable.from_rows([{**row, "prior": 1.0 if PLANTED.get(row["target"]) == row["intermediate"] else 0.0}
                                    for row in table.rows()])
