"""Which trials a report compares, and the per-language value it reads from each.

Selection rule (every table of the report uses it): only `completed` trials count (a running or stopped
trial has scores from an earlier step or for fewer targets, a diverged or failed one has none worth
comparing); among them, the trial with the highest objective (the mean *dev* selection score over its study's
targets) per (study, model, intermediate, seed) represents that seed, so the learning rates are chosen the way
the search itself chooses them. Seeds are then averaged unweighted. Every choice the report makes (a best
trial, a best task, a best model, an order) reads dev columns (`objective`, `dev:{target}`); test columns
(`score:{target}`, per-language metrics) are only reported, never compared to pick anything.
"""

from __future__ import annotations

import math

import pandas as pd

from raytl.report.results import BASELINE, SCORE_PREFIX, language_columns, target_names

SELECTION_RULE = (
    "Only completed trials; per (model, intermediate task, seed) the trial with the highest objective, the "
    "mean dev selection score (learning rates chosen as the search chooses them, never by test); means and "
    "sample standard deviations are unweighted over seeds."
)
GROUP_KEYS = ["model", "intermediate", "seed"]
PROTOCOLS = {
    "en_dev": "`en_dev`: English dev sets, XTREME's zero-shot protocol",
    "target_dev": "`target_dev`: the targets' dev sets in their own languages (not zero-shot selection: "
                  "target-language dev data informs every choice)",
}


def protocol_text(df: pd.DataFrame) -> str:
    """The selection protocol of the run's completed trials, as the report labels its tables.

    >>> protocol_text(pd.DataFrame({"status": ["completed"], "selection": ["en_dev"]}))
    "Selection protocol: `en_dev`: English dev sets, XTREME's zero-shot protocol."
    """
    found = sorted({str(s) for s in df.loc[df["status"] == "completed", "selection"].dropna()})
    if not found:
        return "Selection protocol: not recorded in the trial summaries."
    if len(found) > 1:
        return f"Selection protocol: **mixed** ({', '.join(found)}): these trials were selected differently."
    return f"Selection protocol: {PROTOCOLS.get(found[0], f'`{found[0]}`')}."


def select_trials(df: pd.DataFrame) -> pd.DataFrame:
    """The completed trial with the highest objective (dev) per (study, model, intermediate, seed).

    In a per-target run each target's study is selected on its own (its objective is that target's dev score).

    >>> df = pd.DataFrame({"trial_id": ["a", "b", "c"], "status": ["completed", "completed", "running"],
    ...                    "study": ["joint"] * 3, "model": ["large"] * 3, "intermediate": ["mnli"] * 3,
    ...                    "seed": [0, 0, 0], "objective": [70.0, 72.0, 90.0]})
    >>> select_trials(df).objective.tolist()
    [72.0]
    """
    done = df[(df["status"] == "completed") & df["objective"].notna()]
    if done.empty:
        return done.copy()
    ranked = done.sort_values(["objective", "trial_id"], ascending=[False, True], kind="stable")
    best = ranked.groupby(["study", *GROUP_KEYS], sort=False).head(1)
    return best.sort_values([*GROUP_KEYS, "study"], kind="stable").reset_index(drop=True)


def model_order(df: pd.DataFrame) -> list[str]:
    """Model names from smallest to largest parameter count.

    >>> model_order(pd.DataFrame({"model": ["large", "base"], "model_params": [5.6e8, 2.7e8]}))
    ['base', 'large']
    """
    sizes = df.groupby("model")["model_params"].max().sort_values(kind="stable")
    return [str(m) for m in sizes.index]


def intermediate_order(df: pd.DataFrame) -> list[str]:
    """Intermediate tasks sorted by complexity group then name, the `none` baseline excluded.

    >>> intermediate_order(pd.DataFrame({"intermediate": ["sst2", "none", "mnli"],
    ...                                  "intermediate_group": ["simple", "baseline", "simple"]}))
    ['mnli', 'sst2']
    """
    pairs = df.loc[df["intermediate"] != BASELINE, ["intermediate_group", "intermediate"]].drop_duplicates()
    return [str(t) for t in pairs.sort_values(["intermediate_group", "intermediate"])["intermediate"]]


def language_value(metrics: dict[str, float]) -> float:
    """One language's score on the target's task-score scale: (EM+F1)/2 for QA, else F1, else accuracy.

    >>> language_value({"exact_match": 60.0, "f1": 80.0})
    70.0
    """
    if "exact_match" in metrics and "f1" in metrics:
        return (metrics["exact_match"] + metrics["f1"]) / 2
    for name in ("f1", "accuracy"):
        if name in metrics:
            return metrics[name]
    return math.nan


def language_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Long table of per-language values: one row per (trial, target, language) that has been evaluated.

    Columns: trial_id, model, intermediate, seed, target, language, value (see `language_value`).

    >>> df = pd.DataFrame({"trial_id": ["t"], "model": ["large"], "intermediate": ["none"], "seed": [0],
    ...                    "score:xnli": [80.0], "xnli:de:accuracy": [79.0]})
    >>> language_scores(df)[["target", "language", "value"]].values.tolist()
    [['xnli', 'de', 79.0]]
    """
    keys = ["trial_id", "model", "intermediate", "seed"]
    parts = []
    for target in target_names(df):
        for lang, metrics in language_columns(df, target).items():
            part = df[keys].copy()
            part["target"], part["language"] = target, lang
            part["value"] = _language_series(df, metrics)
            parts.append(part[part["value"].notna()])
    if not parts:
        return pd.DataFrame(columns=[*keys, "target", "language", "value"])
    return pd.concat(parts, ignore_index=True)


def _language_series(df: pd.DataFrame, metrics: dict[str, str]) -> pd.Series:
    """`language_value` applied column-wise."""
    if "exact_match" in metrics and "f1" in metrics:
        return (df[metrics["exact_match"]] + df[metrics["f1"]]) / 2
    for name in ("f1", "accuracy"):
        if name in metrics:
            return df[metrics[name]].astype(float)
    return pd.Series(math.nan, index=df.index)


def task_scores(selected: pd.DataFrame, prefix: str = SCORE_PREFIX) -> pd.DataFrame:
    """Long table of task scores: one row per (selected trial, target) with a score; `prefix="dev:"` reads the
    dev selection scores instead of the test task scores.

    >>> df = pd.DataFrame({"model": ["large"], "intermediate": ["none"], "seed": [0], "score:xnli": [80.0],
    ...                    "dev:xnli": [81.0]})
    >>> task_scores(df).values.tolist(), task_scores(df, "dev:").values.tolist()
    ([['large', 'none', 0, 'xnli', 80.0]], [['large', 'none', 0, 'xnli', 81.0]])
    """
    columns = [f"{prefix}{t}" for t in target_names(selected) if f"{prefix}{t}" in selected.columns]
    long = selected.melt(id_vars=GROUP_KEYS, value_vars=columns, var_name="target", value_name="value")
    long["target"] = long["target"].str.removeprefix(prefix)
    return long[long["value"].notna()].reset_index(drop=True)


def gain_summary(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Seed statistics of a value and of its gain over the same model's `none` baseline.

    `long` has one row per (model, intermediate, seed, *by) with a `value`. Per seed, gain = value minus the
    unweighted mean of the baseline's seeds for the same model (and `by` keys); the baseline's seeds need not
    match. Returns per (model, intermediate, *by): n_seeds, score_mean, score_std, baseline_mean, gain_mean,
    gain_std (sample std over seeds, NaN with one seed). The ranking of intermediate tasks against each other
    does not depend on baseline noise, because every task of a model has the same baseline subtracted.

    >>> long = pd.DataFrame({"model": ["large"] * 3, "intermediate": ["none", "mnli", "mnli"],
    ...                      "seed": [0, 0, 1], "value": [70.0, 72.0, 74.0]})
    >>> gain_summary(long, [])[["intermediate", "gain_mean", "gain_std"]].values.tolist()
    [['mnli', 3.0, 1.4142135623730951], ['none', 0.0, nan]]
    """
    keys = ["model", *by]
    base = long[long["intermediate"] == BASELINE].groupby(keys)["value"].mean().rename("baseline_mean")
    merged = long.join(base, on=keys) if not base.empty else long.assign(baseline_mean=math.nan)
    merged["gain"] = merged["value"] - merged["baseline_mean"]
    stats = merged.groupby(["model", "intermediate", *by]).agg(
        n_seeds=("value", "size"), score_mean=("value", "mean"), score_std=("value", "std"),
        baseline_mean=("baseline_mean", "first"), gain_mean=("gain", "mean"), gain_std=("gain", "std"),
    )
    return stats.reset_index()
