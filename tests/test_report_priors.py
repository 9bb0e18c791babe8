"""The report's prior section: planted dev scores and a planted prior.json with hand-computed Spearman, Regret@k
and cross-size correlations; test scores planted in the opposite order so that reading them would show."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from raytl.cli import app
from raytl.errors import InputError
from raytl.report.priors import measured_gains, prior_report, prior_table, read_prior, regret_at_k, spearman
from raytl.report.results import load_results
from tests.conftest import scramble_tests

PARAMS = {"base": 270_000_000, "large": 560_000_000}
TARGETS = ("xnli", "pawsx")
# Mean dev score over seeds of the good configuration; None: no completed trial.
DEV = {
    ("large", "xnli"): {"none": 70.0, "a": 75.0, "b": 72.0, "c": 71.0, "d": 69.0, "e": 74.0},  # gains 5 2 1 -1 4
    ("base", "xnli"): {"none": 60.0, "a": 62.0, "b": 64.0, "c": 61.0, "d": 63.0, "e": 65.0},  # gains 2 4 1 3 5
    ("large", "pawsx"): {"none": 80.0, "a": 81.0, "b": 83.0, "c": 82.0, "d": 84.0, "e": None},  # gains 1 3 2 4
    ("base", "pawsx"): {"none": None, "a": 70.0, "b": 71.0, "c": 72.0, "d": 73.0, "e": 74.0},  # no baseline
}
SEED_DEV = {0: -0.5, 1: 0.5}
LR_TARGET = {2e-5: 0.0, 1e-5: -3.0}  # the second learning rate is worse on dev: never selected
PRIOR = {
    "large": {
        "xnli": [  # semb: b c a d e; logme: the measured order reversed (none, ranked first, is not compared)
            *[{"intermediate": t, "score": s, "method": "semb"} for t, s in
              (("b", 0.9), ("c", 0.8), ("a", 0.7), ("d", 0.6), ("e", 0.5))],
            *[{"intermediate": t, "score": s, "method": "logme"} for t, s in
              (("none", -0.5), ("d", -1.0), ("c", -1.1), ("b", -1.2), ("e", -1.3), ("a", -1.4))],
        ],
        "pawsx": [{"intermediate": t, "score": s, "method": "semb"} for t, s in  # the measured order
                  (("d", 0.4), ("b", 0.3), ("c", 0.2), ("a", 0.1), ("e", 0.05))],
    },
    "base": {
        "xnli": [{"intermediate": t, "score": s, "method": "semb"} for t, s in
                 (("e", 0.5), ("b", 0.3), ("d", 0.2), ("a", None))],  # c not ranked, a has no score
        "pawsx": [{"intermediate": "a", "score": 0.1, "method": "semb"}],
    },
}


def target_result(dev: float, lr: float, seed: int) -> dict:
    """Test = 100 - dev + a bonus for the worse learning rate: test ranks every choice the other way round."""
    dev_value = dev + SEED_DEV[seed] + LR_TARGET[lr]
    test = 100.0 - dev + (10.0 if LR_TARGET[lr] else 0.0)
    return {"dev": dev_value, "score": test, "languages": {"en": {"accuracy": test}, "de": {"accuracy": test}}}


def summary(trial_id: str, model: str, task: str, seed: int, lr: float, targets: list[str]) -> dict:
    results = {t: target_result(DEV[(model, t)][task], lr, seed) for t in targets}
    return {
        "trial_id": trial_id, "status": "completed", "selection": "en_dev",
        "config": {"model": model, "intermediate": task, "lr_intermediate": None if task == "none" else 1e-05,
                   "lr_target": lr, "seed": seed},
        "model_params": PARAMS[model], "intermediate_group": "baseline" if task == "none" else "group",
        "step": 100, "objective": sum(r["dev"] for r in results.values()) / len(results), "targets": results,
    }


def write(trials: Path, data: dict) -> None:
    (trials / data["trial_id"]).mkdir(parents=True, exist_ok=True)
    (trials / data["trial_id"] / "summary.json").write_text(json.dumps(data), encoding="utf-8")


def make_run(root: Path, mode: str, models: tuple[str, ...] = tuple(PARAMS), prior: bool = True) -> Path:
    """A joint run (every trial on each target it has a planted dev for) or a per-target run (one study per
    target); a running trial with the best dev of all, never compared; prior.json at the run's top level."""
    n = 0
    for model in models:
        for task in DEV[(model, "xnli")]:
            for seed in SEED_DEV:
                for lr in LR_TARGET:
                    targets = [t for t in TARGETS if DEV[(model, t)][task] is not None]
                    studies = {"joint": targets} if mode == "joint" else {t: [t] for t in targets}
                    for study, scored in studies.items():
                        trials = root / "trials" if study == "joint" else root / "targets" / study / "trials"
                        write(trials, summary(f"t{n:03d}", model, task, seed, lr, scored))
                        n += 1
    live = summary("live", "large", "d", 0, 2e-5, ["xnli"]) | {"status": "running", "objective": 99.0}
    live["targets"]["xnli"]["dev"] = 99.0
    write(root / "trials" if mode == "joint" else root / "targets" / "xnli" / "trials", live)
    if prior:
        (root / "prior.json").write_text(json.dumps(PRIOR), encoding="utf-8")
    (root / "space.yaml").write_text(f"search: {{mode: {mode}}}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module", params=["per_target", "joint"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp(request.param), request.param)


def _rows(run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    table, cross = prior_report(run, load_results(run))
    assert table is not None
    return table.set_index(["model", "target", "method"]), cross


def test_measured_gains_are_dev_means_over_seeds_minus_the_baseline(run: Path) -> None:
    gains = measured_gains(load_results(run)).set_index(["model", "target", "intermediate"])
    assert gains.loc[("large", "xnli", "a"), "dev"] == pytest.approx(75.0)
    assert gains.loc[("large", "xnli", "d"), "dev_gain"] == pytest.approx(-1.0)  # the running 99.0 is ignored
    assert ("large", "pawsx", "e") not in gains.index  # never completed
    assert not any(k[:2] == ("base", "pawsx") for k in gains.index)  # no baseline: no gains
    assert "none" not in gains.index.get_level_values("intermediate")


def test_spearman_and_regret_match_hand_computed_values(run: Path) -> None:
    table, _ = _rows(run)
    semb = table.loc[("large", "xnli", "semb")]
    # prior ranks (a..e) 3 5 4 2 1, gain ranks 5 3 2 1 4: sum d^2 = 22, rho = 1 - 6*22/(5*24) = -0.1
    assert semb["n_tasks"] == 5 and semb["spearman"] == pytest.approx(-0.1)
    assert semb["regret_at_1"] == pytest.approx(100 * (75 - 72) / 75)  # top-1 b (72) against the best, a (75)
    assert semb["regret_at_3"] == 0.0  # b, c, a: a is in the top 3
    assert (semb["prior_top"], semb["measured_best"]) == ("b", "a")
    assert (semb["prior_top_dev_gain"], semb["measured_best_dev_gain"]) == (pytest.approx(2.0), pytest.approx(5.0))
    assert semb["left_out"] == ""


def test_a_reversed_prior_gives_minus_one_and_a_perfect_one_plus_one_and_no_regret(run: Path) -> None:
    table, _ = _rows(run)
    logme = table.loc[("large", "xnli", "logme")]
    assert logme["n_tasks"] == 5 and logme["spearman"] == -1.0  # none is not compared, though ranked first
    assert logme["regret_at_1"] == pytest.approx(100 * (75 - 69) / 75)  # d
    assert logme["regret_at_3"] == pytest.approx(100 * (75 - 72) / 75)  # d, c, b: best b
    perfect = table.loc[("large", "pawsx", "semb")]
    assert perfect["n_tasks"] == 4 and perfect["spearman"] == 1.0
    assert perfect["regret_at_1"] == 0.0 and perfect["regret_at_3"] == 0.0
    assert perfect["left_out"] == "e (no dev gain)"


def test_tasks_without_a_score_or_a_measurement_are_left_out_and_counted(run: Path) -> None:
    table, _ = _rows(run)
    base = table.loc[("base", "xnli", "semb")]
    assert base["n_tasks"] == 3 and base["spearman"] == 1.0 and base["regret_at_1"] == 0.0
    assert math.isnan(base["regret_at_3"])  # 3 tasks: the top 3 is all of them
    assert base["left_out"] == "a (no prior score); c (not in the prior)"
    nothing = table.loc[("base", "pawsx", "semb")]
    assert nothing["n_tasks"] == 0 and math.isnan(nothing["spearman"]) and pd.isna(nothing["prior_top"])
    assert nothing["left_out"] == "a (no dev gain)"
    assert list(table.index) == [("large", "xnli", "semb"), ("large", "xnli", "logme"), ("large", "pawsx", "semb"),
                                 ("base", "xnli", "semb"), ("base", "pawsx", "semb")]  # one per prior ranking


def test_cross_size_rank_correlation(run: Path) -> None:
    _, cross = _rows(run)
    # xnli: base ranks (a..e) 2 4 1 3 5, large 5 3 2 1 4: sum d^2 = 16, rho = 1 - 6*16/120 = 0.2; pawsx: base
    # has no baseline, so no pair
    assert cross.to_dict("records") == [
        {"target": "xnli", "smaller": "base", "larger": "large", "n_tasks": 5, "spearman": pytest.approx(0.2)}]


def test_scrambled_test_scores_change_nothing(run: Path, tmp_path: Path) -> None:
    scrambled = tmp_path / "scrambled"
    shutil.copytree(run, scrambled, ignore=shutil.ignore_patterns("report"))
    scramble_tests(scrambled, seed=3)
    a, b = load_results(run), load_results(scrambled)
    assert not a["score:xnli"].equals(b["score:xnli"])
    for left, right in zip(prior_report(run, a), prior_report(scrambled, b), strict=True):
        pd.testing.assert_frame_equal(left, right)


def test_report_cli_shows_the_section_and_writes_the_tables(run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Transferability priors against the measured gains (dev)" in md
    assert "| large | xnli | logme | 5 | -1.00 | 8.00 | 4.00 | d | -1.00 | a | 5.00 |  |" in md
    assert "| xnli | base | large | 5 | 0.20 |" in md
    assert "Transferability priors against the measured gains (dev)</h2>" in (
        tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    csv = pd.read_csv(tmp_path / "out" / "priors.csv").set_index(["model", "target", "method"])
    assert csv.loc[("large", "xnli", "semb"), "regret_at_1"] == pytest.approx(4.0)
    assert len(pd.read_csv(tmp_path / "out" / "priors_cross_size.csv")) == 1


def test_without_prior_json_the_report_says_so_and_keeps_the_cross_size_table(tmp_path: Path) -> None:
    from raytl.report.render import build_report

    md = build_report(make_run(tmp_path / "run", "joint", prior=False)).read_text(encoding="utf-8")
    assert "No prior was recorded" in md and "| xnli | base | large | 5 | 0.20 |" in md
    assert not (tmp_path / "run" / "report" / "priors.csv").exists()
    one = build_report(make_run(tmp_path / "one", "joint", models=("large",), prior=False)).read_text()
    assert "No prior was recorded" in one and "Needs dev gains at two or more model sizes" in one


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "cannot read the prior ranking"),
    ('{"large": [1]}', "expected {model: {target: [entries]}}"),
    ('{"large": {"xnli": [{"intermediate": "a", "score": "high", "method": "semb"}]}}', "score must be a number"),
    ('{"large": {"xnli": [{"score": 1.0, "method": "semb"}]}}', "string 'intermediate' and 'method'"),
    ('{"large": {"xnli": [{"intermediate": "a", "score": 1, "method": "semb"},'
     ' {"intermediate": "a", "score": 2, "method": "semb"}]}}', "a is ranked twice by semb"),
])
def test_a_malformed_prior_json_is_an_input_error_naming_the_file(tmp_path: Path, content: str,
                                                                   fragment: str) -> None:
    (tmp_path / "prior.json").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="prior.json") as err:
        read_prior(tmp_path)
    assert fragment in str(err.value)


def test_measures_on_small_inputs() -> None:
    assert spearman([0.3, 0.1, 0.2], [5.0, -1.0, 2.0]) == 1.0
    assert math.isnan(spearman([1.0], [2.0])) and math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # sum d^2 = 2: 1 - 12/60
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)  # ties: average ranks
    dev = {"a": 50.0, "b": 40.0, "c": 45.0, "d": 30.0, "e": 20.0}
    assert regret_at_k(["e", "d", "b", "a", "c"], dev, 1) == pytest.approx(60.0)
    assert regret_at_k(["e", "d", "b", "a", "c"], dev, 3) == pytest.approx(20.0)
    assert math.isnan(regret_at_k([], {}, 1))
    empty = pd.DataFrame(columns=["model", "target", "intermediate", "dev", "dev_gain"])
    assert prior_table({}, empty).empty
