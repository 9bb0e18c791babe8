"""Task complexity as data: the catalog's levels, the `raytl tasks` column, and the report's
gain ~ log10(params) x complexity fit (planted interactions recovered, one-seed and no-data cases)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raytl.cli import app
from raytl.report.complexity import complexity_level, fit_interaction, level_table, plot_complexity
from raytl.tasks import TASKS
from raytl.tasks.entry import Complexity

PARAMS = {"base": 2.7e8, "large": 5.6e8, "xl": 3.5e9, "xxl": 1.07e10}
TASK_LEVELS = {"sst2": 1, "mnli": 2, "squadv2": 3, "hellaswag": 4}


def test_level_is_the_reasoning_rank_plus_one_if_adversarial() -> None:
    assert Complexity("inference", adversarial=False, train_size=392_702).level == 2
    assert Complexity("inference", adversarial=True, train_size=1_104_934).level == 3
    assert {name: TASKS[name].complexity.level for name in TASK_LEVELS} == TASK_LEVELS
    assert TASKS["ccg"].complexity.train_size is None and TASKS["mlm"].complexity.level == 0
    with pytest.raises(ValueError, match="reasoning 'vibes'; allowed: language modelling, sentiment"):
        Complexity("vibes", adversarial=False, train_size=1)
    assert math.isnan(complexity_level("none")) and math.isnan(complexity_level("my_mixture"))


def test_tasks_command_shows_a_complexity_column() -> None:
    result = CliRunner().invoke(app, ["tasks"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "complexity" in lines["task"]
    assert "L4 commonsense, adversarial, 39,905 train" in lines["hellaswag"]
    assert "L3 inference, adversarial, 1,104,934 train" in lines["anli_plus"]
    assert "L1 syntax, train size: user's data" in lines["ccg"]
    assert lines["xnli"].split()[4] == "-"  # targets have no complexity


def planted_rows(interaction: float, seeds: range = range(5), noise: float = 0.3) -> pd.DataFrame:
    """Trial averages whose gain = 1 + 0.5 x + 0.4 level + interaction * x * level (x = log10 params) + noise."""
    rng = np.random.default_rng(7)
    rows = []
    for model, params in PARAMS.items():
        x = math.log10(params)
        for seed in seeds:
            baseline = 60.0 + 4.0 * x + rng.normal(0.0, noise)
            rows.append((model, "none", seed, baseline, params, math.nan))
            for task, level in TASK_LEVELS.items():
                gain = 1.0 + 0.5 * (x - 9.0) + 0.4 * level + interaction * (x - 9.0) * level
                value = 60.0 + 4.0 * x + gain + rng.normal(0.0, noise)
                rows.append((model, task, seed, value, params, float(level)))
    return pd.DataFrame(rows, columns=["model", "intermediate", "seed", "value", "model_params", "complexity"])


@pytest.mark.parametrize("interaction", [1.5, -0.8])
def test_fit_recovers_a_planted_interaction_with_its_sign(interaction: float) -> None:
    fit = fit_interaction(planted_rows(interaction), draws=300)
    row = fit.table.set_index("term").loc["log10_params:level"]
    assert row["estimate"] == pytest.approx(interaction, abs=0.25)
    assert row["ci_low"] < interaction < row["ci_high"]
    assert np.sign(row["ci_low"]) == np.sign(row["ci_high"]) == np.sign(interaction)  # the interval excludes 0
    assert "percentile bootstrap over seeds, 300 draws" in fit.note and "5 seed(s)" in fit.note
    # centring: the slope term is the per-decade gain at the mean level (2.5)
    slope = fit.table.set_index("term").loc["log10_params", "estimate"]
    assert slope == pytest.approx(0.5 + interaction * 2.5, abs=0.3)


def test_fit_is_seeded() -> None:
    rows = planted_rows(1.0)
    first, second = fit_interaction(rows, draws=100, seed=3), fit_interaction(rows, draws=100, seed=3)
    pd.testing.assert_frame_equal(first.table, second.table)


def test_one_seed_fits_without_an_interval_and_says_why() -> None:
    fit = fit_interaction(planted_rows(1.5, seeds=range(1), noise=0.0))
    assert fit.table.set_index("term").loc["log10_params:level", "estimate"] == pytest.approx(1.5)
    assert fit.table["ci_low"].isna().all() and "One seed: no seed-based interval" in fit.note


def test_no_data_and_too_little_data_give_no_fit() -> None:
    empty = planted_rows(1.0).iloc[0:0]
    assert fit_interaction(empty).table.empty and "No fit: no gains" in fit_interaction(empty).note
    one_size = planted_rows(1.0)
    one_size = one_size[one_size["model"] == "xl"]
    fit = fit_interaction(one_size)
    assert fit.table.empty and "1 model size(s) and 4 complexity level(s)" in fit.note
    assert level_table(empty).empty


def test_level_table_and_figure(tmp_path) -> None:
    rows = planted_rows(1.5)
    levels = level_table(rows)
    assert list(levels["complexity"].unique()) == [1, 2, 3, 4] and (levels["n_seeds"] == 5).all()
    assert levels.loc[0, "tasks"] == "sst2"
    path = plot_complexity(levels, fit_interaction(rows, draws=50), tmp_path / "complexity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
