"""Does the gain of an intermediate task grow with model size faster for more complex tasks?

Per (model, intermediate task, seed) the gain is the trial's average score over the run's targets
(`scaling.trial_averages`) minus the mean of the same model's `none` baseline seeds. The task's complexity level
comes from the catalog by name (`raytl.tasks.entry.Complexity`); mixtures and names the catalog does not know
have none and are left out. Ordinary least squares with the interaction, on centred predictors:

    gain = b0 + b1 * x + b2 * c + b3 * x * c,   x = log10(parameters) - mean(x),   c = level - mean(c)

so b1 is the gain per tenfold size at the mean level, b2 the gain per level at the mean size and b3 (centring does
not change it) how much the per-decade slope grows per complexity level: b3 > 0 means the more complex tasks gain
more from larger models.

Interval: a 95% percentile bootstrap over seeds. A draw resamples the run's seeds with replacement (a seed brings
all of its trials, baseline included, so baseline means are recomputed per draw) and refits; a draw whose design
cannot be fitted (rank below 4) is dropped and counted. With one seed there is no seed-based interval and the
report says so; with few seeds the interval is coarse (two seeds give only three distinct resamples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raytl.report.plots import complexity_lines
from raytl.report.results import BASELINE
from raytl.report.scaling import trial_averages
from raytl.tasks import TASKS

TERMS = {
    "intercept": "gain at the mean size and mean level (points)",
    "log10_params": "gain per tenfold parameters, at the mean level",
    "level": "gain per complexity level, at the mean size",
    "log10_params:level": "change of the per-decade slope per level (> 0: complex tasks gain more with size)",
}
DRAWS = 2000


@dataclass(frozen=True)
class InteractionFit:
    """`table`: one row per term (estimate, ci_low, ci_high, meaning); `note` says what the interval is, or why
    there is none (or no fit at all: `table` is then empty). `centre` = (mean log10 params, mean level)."""

    table: pd.DataFrame
    note: str
    centre: tuple[float, float] = (math.nan, math.nan)

    def predict(self, params: np.ndarray, level: float) -> np.ndarray:
        """Fitted gain at these parameter counts and one complexity level."""
        b0, b1, b2, b3 = self.table["estimate"].to_numpy(dtype=float)
        x, c = np.log10(params) - self.centre[0], level - self.centre[1]
        return b0 + b1 * x + b2 * c + b3 * x * c


def complexity_level(intermediate: str) -> float:
    """The catalog's complexity level of an intermediate task; NaN for the baseline, mixtures and unknown names.

    >>> complexity_level("hellaswag"), complexity_level("none")
    (4.0, nan)
    """
    task = TASKS.get(intermediate)
    return float(task.complexity.level) if task is not None and task.complexity is not None else math.nan


def complexity_rows(df: pd.DataFrame) -> pd.DataFrame:
    """`trial_averages` with model_params and complexity (level) added: the input of the fit and the figure.

    >>> complexity_rows(load_results("runs/r1")).columns.tolist()   # doctest: +SKIP
    ['model', 'intermediate', 'seed', 'value', 'model_params', 'complexity']
    """
    rows = trial_averages(df)
    rows["model_params"] = rows["model"].map(df.groupby("model")["model_params"].max()).astype(float)
    rows["complexity"] = rows["intermediate"].map(complexity_level)
    return rows


def gains(rows: pd.DataFrame) -> pd.DataFrame:
    """Task rows with a complexity level and a baseline, with `gain` = value - the model's baseline seed mean.

    >>> rows = pd.DataFrame({"model": ["b", "b"], "intermediate": ["none", "mnli"], "seed": [0, 0],
    ...                      "value": [70.0, 73.0], "model_params": [1e8, 1e8], "complexity": [math.nan, 2.0]})
    >>> gains(rows)["gain"].tolist()
    [3.0]
    """
    baseline = rows[rows["intermediate"] == BASELINE].groupby("model")["value"].mean()
    tasks = rows[(rows["intermediate"] != BASELINE) & rows["complexity"].notna()].copy()
    tasks["gain"] = tasks["value"].astype(float) - tasks["model"].map(baseline).astype(float)
    return tasks[tasks["gain"].notna()].reset_index(drop=True)


def fit_interaction(rows: pd.DataFrame, draws: int = DRAWS, seed: int = 0) -> InteractionFit:
    """OLS of gain on log10(params) x complexity (see the module docstring) with a seed-bootstrap interval.

    >>> fit_interaction(complexity_rows(load_results("runs/r1"))).table   # doctest: +SKIP
    """
    points = gains(rows)
    if points.empty:
        return InteractionFit(pd.DataFrame(), "No fit: no gains of catalog tasks yet (needs completed `none` "
                              "baseline and intermediate trials).")
    centre = (float(np.log10(points["model_params"]).mean()), float(points["complexity"].mean()))
    estimate = _ols(points, centre)
    if estimate is None:
        sizes, levels = points["model_params"].nunique(), points["complexity"].nunique()
        return InteractionFit(pd.DataFrame(), f"No fit: {sizes} model size(s) and {levels} complexity level(s) "
                              "with gains; the interaction needs at least two of each (and four distinct points).")
    table = pd.DataFrame({"term": list(TERMS), "estimate": estimate, "ci_low": math.nan, "ci_high": math.nan,
                          "meaning": list(TERMS.values())})
    seeds = np.sort(rows["seed"].unique())
    summary = (f"OLS on {len(points)} (model, task, seed) gains, {points['model'].nunique()} model sizes, "
               f"{points['complexity'].nunique()} complexity levels, {len(seeds)} seed(s).")
    if len(seeds) < 2:
        return InteractionFit(table, f"{summary} One seed: no seed-based interval (the bootstrap over seeds needs "
                              "at least two).", centre)
    samples, dropped = _bootstrap(rows, seeds, centre, draws, seed)
    if len(samples) < 2:
        return InteractionFit(table, f"{summary} No interval: {dropped} of {draws} bootstrap draws could not be "
                              "fitted.", centre)
    table["ci_low"], table["ci_high"] = np.percentile(samples, [2.5, 97.5], axis=0)
    coarse = " (coarse: fewer than five seeds)" if len(seeds) < 5 else ""
    return InteractionFit(table, f"{summary} 95% interval{coarse}: percentile bootstrap over seeds, {draws} "
                          f"draws (generator seed {seed}), {dropped} unfittable draws dropped.", centre)


def level_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (complexity level, model): tasks, mean gain over tasks and seeds, std over seeds of the seed means.

    >>> level_table(complexity_rows(load_results("runs/r1")))   # doctest: +SKIP
    """
    points = gains(rows)
    columns = ["complexity", "model", "model_params", "tasks", "n_seeds", "gain_mean", "gain_std"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    keys = ["complexity", "model", "model_params"]
    per_seed = points.groupby([*keys, "seed"])["gain"].mean().reset_index()
    table = per_seed.groupby(keys).agg(n_seeds=("seed", "size"), gain_std=("gain", "std")).reset_index()
    means = points.groupby(keys).agg(gain_mean=("gain", "mean"),
                                     tasks=("intermediate", lambda s: " ".join(sorted(set(s)))))
    table = table.join(means, on=keys)
    table["complexity"], table["model_params"] = table["complexity"].astype(int), table["model_params"].astype(int)
    return table.sort_values(["complexity", "model_params"], kind="stable")[columns].reset_index(drop=True)


def plot_complexity(levels: pd.DataFrame, fit: InteractionFit, path: str | Path) -> Path:
    """PNG: mean gain against parameters, one line per complexity level, the fitted lines dashed.

    >>> plot_complexity(level_table(rows), fit_interaction(rows), "report/complexity.png")  # doctest: +SKIP
    """
    fitted = []
    if not fit.table.empty and not levels.empty:
        grid = np.geomspace(levels["model_params"].min(), levels["model_params"].max(), 20)
        for level in sorted(levels["complexity"].unique()):
            fitted.append(pd.DataFrame({"complexity": level, "model_params": grid, "gain": fit.predict(grid, level)}))
    return complexity_lines(levels, pd.concat(fitted) if fitted else None, path)


def _design(points: pd.DataFrame, centre: tuple[float, float]) -> np.ndarray:
    x = np.log10(points["model_params"].to_numpy(dtype=float)) - centre[0]
    c = points["complexity"].to_numpy(dtype=float) - centre[1]
    return np.column_stack([np.ones_like(x), x, c, x * c])


def _ols(points: pd.DataFrame, centre: tuple[float, float]) -> np.ndarray | None:
    design = _design(points, centre)
    if len(points) < 4 or np.linalg.matrix_rank(design) < 4:
        return None
    return np.linalg.lstsq(design, points["gain"].to_numpy(dtype=float), rcond=None)[0]


def _bootstrap(rows: pd.DataFrame, seeds: np.ndarray, centre: tuple[float, float], draws: int, seed: int
               ) -> tuple[np.ndarray, int]:
    """Refit on `draws` resamples of the seeds. A seed drawn k times counts k times: its baseline rows weigh k in
    the model's baseline mean and its task rows weigh k in the least squares (the same as duplicating them)."""
    rng = np.random.default_rng(seed)
    base = rows[rows["intermediate"] == BASELINE]
    tasks = rows[(rows["intermediate"] != BASELINE) & rows["complexity"].notna()]
    models = pd.Index(sorted(set(rows["model"])))
    base_model, base_seed = models.get_indexer(base["model"]), np.searchsorted(seeds, base["seed"])
    task_model, task_seed = models.get_indexer(tasks["model"]), np.searchsorted(seeds, tasks["seed"])
    base_value, task_value = base["value"].to_numpy(dtype=float), tasks["value"].to_numpy(dtype=float)
    design = _design(tasks, centre)
    samples, dropped = [], 0
    for _ in range(draws):
        counts = np.bincount(rng.integers(0, len(seeds), len(seeds)), minlength=len(seeds)).astype(float)
        weight = counts[base_seed]
        total = np.bincount(base_model, weight, minlength=len(models))
        with np.errstate(invalid="ignore", divide="ignore"):
            baseline = np.bincount(base_model, weight * base_value, minlength=len(models)) / total
        w = np.where(total[task_model] > 0, counts[task_seed], 0.0)
        kept = w > 0
        if kept.sum() < 4 or np.linalg.matrix_rank(design[kept]) < 4:
            dropped += 1
            continue
        root = np.sqrt(w[kept])[:, None]
        gain = task_value[kept] - baseline[task_model[kept]]
        samples.append(np.linalg.lstsq(design[kept] * root, gain * root[:, 0], rcond=None)[0])
    return np.array(samples), dropped
