"""XTREME-style tables: per-language scores, task scores, category scores and overall, per configuration.

Configurations compared side by side, per model: the `none` baseline and the intermediate task with the best
average DEV selection score over the run's targets (trials chosen by `selection.SELECTION_RULE`; the values shown
are TEST scores, means over seeds). For XLM-R Large the published numbers are put beside the run's, on the
published metric, for the baseline and the intermediate task chosen per target on dev (`headline.dev_selected`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from raytl.report.headline import (
    PUBLISHED_METRIC,
    PUBLISHED_MODEL,
    PUBLISHED_XLMR_LARGE,
    SELECTED,
    dev_selected,
)
from raytl.report.results import BASELINE
from raytl.report.scaling import scaling_table
from raytl.report.selection import language_scores, model_order, select_trials, task_scores
from raytl.tasks.scoring import TASK_CATEGORIES, summarize


class Config(NamedTuple):
    """One compared configuration: a column of the XTREME tables."""

    label: str
    model: str
    intermediate: str


def configurations(df: pd.DataFrame) -> list[Config]:
    """Per model (small to large): its baseline, then its intermediate task with the best average dev score.

    >>> [c.label for c in configurations(load_results("runs/r1"))]   # doctest: +SKIP
    ['large / none', 'large / mnli (best on dev)']
    """
    table = scaling_table(df)
    configs = []
    for model in model_order(table):
        rows = table[(table["model"] == model) & table["score_mean"].notna()]
        if (rows["intermediate"] == BASELINE).any():
            configs.append(Config(f"{model} / {BASELINE}", model, BASELINE))
        tasks = rows[(rows["intermediate"] != BASELINE) & rows["dev_mean"].notna()]
        if not tasks.empty:
            ranked = tasks.sort_values(["dev_mean", "intermediate"], ascending=[False, True], kind="stable")
            best = str(ranked["intermediate"].iloc[0])
            configs.append(Config(f"{model} / {best} (best on dev)", model, best))
    return configs


def xtreme_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Task scores, then category scores and `all_task` from `raytl.tasks.scoring.summarize`, per configuration.

    >>> xtreme_summary(load_results("runs/r1")).loc["all_task"]     # doctest: +SKIP
    """
    scores = _mean_by_config(task_scores(select_trials(df)), ["target"], configurations(df))
    columns = {}
    for label in scores.columns:
        per_task = {t: float(v) for t, v in scores[label].items() if pd.notna(v)}
        columns[label] = {**per_task, **summarize(per_task)}
    table = pd.DataFrame(columns, columns=list(scores.columns))
    return table.rename(index=_coverage_labels(set(scores.index)))


def _coverage_labels(present: set[str]) -> dict[str, str]:
    """Say so in the row label when an average covers only some of its tasks (not the official score then)."""
    groups = {"all_task": [t for tasks in TASK_CATEGORIES.values() for t in tasks], **TASK_CATEGORIES}
    labels = {}
    for name, tasks in groups.items():
        covered = [t for t in tasks if t in present]
        if covered and len(covered) < len(tasks):
            labels[name] = f"{name} ({len(covered)} of {len(tasks)} tasks)"
    return labels


def language_table(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """One target's per-language scores (task-score scale) and its task score, per configuration.

    >>> language_table(load_results("runs/r1"), "xnli")     # doctest: +SKIP
    """
    configs = configurations(df)
    selected = select_trials(df)
    langs = language_scores(selected)
    table = _mean_by_config(langs[langs["target"] == target], ["language"], configs)
    scores = task_scores(selected)
    task = _mean_by_config(scores[scores["target"] == target], ["target"], configs)
    table.loc["task score"] = task.iloc[0] if not task.empty else math.nan
    return table


def published_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """For XLM-R Large: the run's baseline and dev-selected task per target beside the published numbers.

    Both configurations are `headline.dev_selected`'s (chosen on dev); the run's values are their seeds' mean
    TEST score on the published metric (mean accuracy or mean F1 over the run's languages, so QA shows F1, not
    (EM+F1)/2). Empty when the run has no completed `large` trials or no published target.

    >>> published_comparison(load_results("runs/r1"))     # doctest: +SKIP
    """
    chosen = dev_selected(df)
    chosen = chosen[chosen["model"] == PUBLISHED_MODEL].set_index(["target", "arm"])
    trials = df.set_index("trial_id")
    records = []
    for target, metric in PUBLISHED_METRIC.items():
        arms = {arm: _published_metric(trials, chosen.at[(target, arm), "seed_trials"], target, metric)
                for arm in (BASELINE, SELECTED) if (target, arm) in chosen.index}
        if all(pd.isna(v) for v in arms.values()):
            continue
        records.append({
            "target": target, "metric": f"mean {metric}",
            "languages in run": _n_languages(df, target, metric),
            "run: large / none": arms.get(BASELINE, math.nan),
            "run: task chosen on dev": chosen.at[(target, SELECTED), "intermediate"] if SELECTED in arms else None,
            "run: large / task chosen on dev": arms.get(SELECTED, math.nan),
            **{f"published: {name}": values[target] for name, values in PUBLISHED_XLMR_LARGE.items()},
        })
    return pd.DataFrame(records).set_index("target") if records else pd.DataFrame()


def _mean_by_config(long: pd.DataFrame, keys: list[str], configs: list[Config]) -> pd.DataFrame:
    """Mean over seeds of `value`, index `keys`, one column per configuration."""
    columns = {}
    for config in configs:
        rows = long[(long["model"] == config.model) & (long["intermediate"] == config.intermediate)]
        columns[config.label] = rows.groupby(keys)["value"].mean()
    table = pd.DataFrame(columns, columns=[c.label for c in configs])
    table.index.name = keys[0] if len(keys) == 1 else None
    return table


def _published_metric(trials: pd.DataFrame, seed_trials: str, target: str, metric: str) -> float:
    """Mean over the `;`-separated seed trials of the unweighted mean over languages of `metric` (NaN if none)."""
    columns = [c for c in trials.columns if c.startswith(f"{target}:") and c.endswith(f":{metric}")]
    ids = [t for t in seed_trials.split(";") if t]
    if not columns or not ids:
        return math.nan
    return float(trials.loc[ids, columns].mean(axis=1, skipna=False).mean())


def _n_languages(df: pd.DataFrame, target: str, metric: str) -> int:
    return sum(1 for c in df.columns if c.startswith(f"{target}:") and c.endswith(f":{metric}"))
