"""Does an intermediate task's benefit grow or shrink with model size?

Per (model, intermediate task) the run's average score is the unweighted mean of the selected trial's task
scores over the run's targets (so it matches the XTREME overall score only when all nine targets are in the
run); its gain is that average minus the same model's `none` baseline average, mean and std over seeds. The
trend of the gain with size is a least-squares slope of gain against log10(parameters): points of gain per
tenfold increase in parameters. The same averages of the dev selection scores (`dev_mean`, `dev_gain_mean`) are
what the report ranks tasks and models by; the test columns are only reported.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from raytl.report.plots import size_lines
from raytl.report.results import BASELINE, DEV_PREFIX, SCORE_PREFIX
from raytl.report.selection import gain_summary, model_order, select_trials, task_scores

SCALING_COLUMNS = [
    "model", "model_params", "intermediate", "intermediate_group", "n_seeds", "score_mean", "score_std",
    "gain_mean", "gain_std", "dev_mean", "dev_gain_mean",
]


def scaling_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, intermediate task), baseline included (its gain is 0 by definition), by size.

    A selected trial missing a target's score (which a completed trial should not be) gets no average, so
    averages never mix different target sets.

    >>> scaling_table(load_results("runs/r1"))[["model", "intermediate", "gain_mean"]]   # doctest: +SKIP
    """
    selected = select_trials(df)
    stats = gain_summary(_per_trial(selected, SCORE_PREFIX), [])
    dev = gain_summary(_per_trial(selected, DEV_PREFIX), []).set_index(["model", "intermediate"])
    dev = dev[["score_mean", "gain_mean"]].rename(columns={"score_mean": "dev_mean", "gain_mean": "dev_gain_mean"})
    stats = stats.join(dev, on=["model", "intermediate"])
    params = df.groupby("model")["model_params"].max()
    groups = df.drop_duplicates("intermediate").set_index("intermediate")["intermediate_group"]
    stats["model_params"] = stats["model"].map(params)
    stats["intermediate_group"] = stats["intermediate"].map(groups)
    stats["is_task"] = stats["intermediate"] != BASELINE  # baseline first within each model
    order = ["model_params", "is_task", "intermediate_group", "intermediate"]
    stats = stats.sort_values(order, kind="stable")
    return stats[SCALING_COLUMNS].reset_index(drop=True)


def trial_averages(df: pd.DataFrame) -> pd.DataFrame:
    """Per selected trial (model, intermediate, seed): `value` = unweighted mean of its test task scores over the
    run's targets; a trial missing one of them is left out, so averages never mix different target sets."""
    return _per_trial(select_trials(df), SCORE_PREFIX)


def _per_trial(selected: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Per trial, the mean over the run's targets of its `prefix` scores (test `score:` or `dev:`)."""
    long = task_scores(selected, prefix)
    n_targets = long["target"].nunique()
    per_trial = long.groupby(["model", "intermediate", "seed"])["value"].agg(["mean", "size"])
    per_trial = per_trial[per_trial["size"] == n_targets].rename(columns={"mean": "value"}).reset_index()
    return per_trial[["model", "intermediate", "seed", "value"]]


def gain_by_size(table: pd.DataFrame) -> pd.DataFrame:
    """Intermediate task x model (small to large) matrix of mean gains, plus `slope_per_decade`.

    The slope is NaN when a task has gains for fewer than two model sizes.

    >>> gain_by_size(scaling_table(df))     # doctest: +SKIP
    """
    rows = table[(table["intermediate"] != BASELINE)]
    matrix = rows.pivot(index="intermediate", columns="model", values="gain_mean")
    matrix = matrix.reindex(columns=model_order(table))
    params = table.groupby("model")["model_params"].max()
    matrix["slope_per_decade"] = [_slope(params, matrix.loc[task]) for task in matrix.index]
    groups = rows.drop_duplicates("intermediate").set_index("intermediate")["intermediate_group"]
    matrix.insert(0, "intermediate_group", groups.reindex(matrix.index))
    return matrix.sort_values(["intermediate_group"], kind="stable")


def best_model(table: pd.DataFrame) -> str | None:
    """The model with the highest mean DEV score over seeds of any intermediate task (or baseline).

    >>> best_model(pd.DataFrame({"model": ["base", "xl"], "dev_mean": [70.0, 80.0]}))
    'xl'
    """
    known = table[table["dev_mean"].notna()]
    if known.empty:
        return None
    return str(known.loc[known["dev_mean"].idxmax(), "model"])


def plot_scaling(table: pd.DataFrame, path: str | Path) -> Path:
    """PNG of score and gain against parameters, one line per task, one panel column per complexity group.

    >>> plot_scaling(scaling_table(df), "report/scaling.png")   # doctest: +SKIP
    """
    groups = sorted(g for g in table["intermediate_group"].dropna().unique() if g != "baseline")
    return size_lines(table, path, groups, "Average target task score and gain by model size")


def _slope(params: pd.Series, gains: pd.Series) -> float:
    known = gains.dropna()
    if len(known) < 2:
        return math.nan
    x = np.log10(params.reindex(known.index).to_numpy(dtype=float))
    return float(np.polyfit(x, known.to_numpy(dtype=float), 1)[0])
