"""The transfer matrix: how much each intermediate task changes each target's task score, per model.

Each cell is the gain of the target's XTREME task score over the `none` baseline of the same model, as mean
and sample standard deviation over seeds (trials chosen by `selection.SELECTION_RULE`). The best intermediate
task per target and its runner-up are ranked by their DEV gain (the same gain computed on the dev selection
scores, `dev_gain_mean`), never by test. Their TEST gains are then reported: the best task's test margin over the
runner-up "exceeds the seed spread" when margin > std(best) + std(runner-up), i.e. when the two test mean +- 1
std intervals do not overlap (a held-out check of the dev choice; a negative margin means test disagrees). With
fewer than two seeds for either task the spread is unknown and the flag is None ("n/a" in the report).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from raytl.report.plots import heatmap
from raytl.report.results import BASELINE, DEV_PREFIX
from raytl.report.selection import gain_summary, intermediate_order, select_trials, task_scores

BEST_COLUMNS = [
    "model", "target", "best", "best_dev_gain", "best_gain", "best_std", "runner_up", "runner_up_dev_gain",
    "runner_up_gain", "runner_up_std", "margin", "seed_spread", "margin_exceeds_spread", "n_seeds",
]


def transfer_table(df: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per (model, intermediate, target), baseline excluded.

    Columns: model, intermediate, intermediate_group, target, n_seeds, score_mean, score_std, baseline_mean,
    gain_mean, gain_std (test), dev_mean, dev_gain_mean (the dev selection score and its gain, what rankings
    read). Gains are NaN where the model has no completed baseline for that target.

    >>> table = transfer_table(load_results("runs/r1"))   # doctest: +SKIP
    >>> table.query("model == 'large' and target == 'xnli'")[["intermediate", "gain_mean"]]  # doctest: +SKIP
    """
    selected = select_trials(df)
    stats = gain_summary(task_scores(selected), ["target"])
    dev = gain_summary(task_scores(selected, DEV_PREFIX), ["target"]).set_index(["model", "intermediate", "target"])
    dev = dev[["score_mean", "gain_mean"]].rename(columns={"score_mean": "dev_mean", "gain_mean": "dev_gain_mean"})
    stats = stats.join(dev, on=["model", "intermediate", "target"])
    groups = df.drop_duplicates("intermediate").set_index("intermediate")["intermediate_group"]
    stats["intermediate_group"] = stats["intermediate"].map(groups)
    stats = stats[stats["intermediate"] != BASELINE]
    columns = ["model", "intermediate", "intermediate_group", "target", "n_seeds", "score_mean", "score_std",
               "baseline_mean", "gain_mean", "gain_std", "dev_mean", "dev_gain_mean"]
    return stats[columns].reset_index(drop=True)


def transfer_matrix(table: pd.DataFrame, model: str, value: str = "gain_mean") -> pd.DataFrame:
    """Intermediate task x target matrix of one column of `transfer_table` for one model.

    Rows follow complexity group then name, columns follow the table's target order.

    >>> transfer_matrix(transfer_table(df), "large")      # doctest: +SKIP
    """
    rows = table[table["model"] == model]
    matrix = rows.pivot(index="intermediate", columns="target", values=value)
    order = intermediate_order(rows)
    targets = list(dict.fromkeys(table["target"]))
    return matrix.reindex(index=[t for t in order if t in matrix.index], columns=targets)


def best_per_target(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, target): the intermediate task with the highest mean DEV gain, its runner-up on dev, and the
    test margin between them.

    Only tasks with a known dev gain compete. `margin_exceeds_spread` is True/False, or None when either task
    has a single seed (see the module docstring for the rule).

    >>> best = best_per_target(transfer_table(df))    # doctest: +SKIP
    >>> best[["target", "best", "margin", "margin_exceeds_spread"]]   # doctest: +SKIP
    """
    records = []
    for (model, target), rows in table[table["dev_gain_mean"].notna()].groupby(["model", "target"], sort=False):
        ranked = rows.sort_values(["dev_gain_mean", "intermediate"], ascending=[False, True]).to_dict("records")
        best = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        records.append({
            "model": model, "target": target, "best": best["intermediate"], "best_dev_gain": best["dev_gain_mean"],
            "best_gain": best["gain_mean"], "best_std": best["gain_std"], "n_seeds": best["n_seeds"],
            **_runner_up(best, second),
        })
    return pd.DataFrame(records, columns=BEST_COLUMNS)


def _runner_up(best: dict, second: dict | None) -> dict:
    if second is None:
        return {"runner_up": None, "runner_up_dev_gain": math.nan, "runner_up_gain": math.nan,
                "runner_up_std": math.nan, "margin": math.nan, "seed_spread": math.nan, "margin_exceeds_spread": None}
    margin = best["gain_mean"] - second["gain_mean"]
    spread = best["gain_std"] + second["gain_std"]
    return {
        "runner_up": second["intermediate"], "runner_up_dev_gain": second["dev_gain_mean"],
        "runner_up_gain": second["gain_mean"],
        "runner_up_std": second["gain_std"], "margin": margin, "seed_spread": spread,
        "margin_exceeds_spread": bool(margin > spread) if math.isfinite(spread) else None,
    }


def plot_transfer(table: pd.DataFrame, model: str, path: str | Path) -> Path:
    """Heatmap PNG of one model's transfer matrix (gain in task-score points); return the path.

    >>> plot_transfer(transfer_table(df), "large", "report/transfer_large.png")   # doctest: +SKIP
    """
    matrix = transfer_matrix(table, model)
    title = f"XLM-R {model}: gain over no intermediate task"
    return heatmap(matrix, path, title, "gain (points)")


def flag_text(value: object) -> str:
    """How the report prints `margin_exceeds_spread`: "yes", "no" or "n/a" (fewer than two seeds).

    >>> [flag_text(v) for v in (True, False, None)]
    ['yes', 'no', 'n/a']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "yes" if bool(value) else "no"
