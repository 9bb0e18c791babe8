"""Which languages benefit: the gain over the `none` baseline, language by language.

A language's value is read on its target's task-score scale (`selection.language_value`: (EM+F1)/2 for QA,
else F1, else accuracy); its gain is taken against the same model's baseline on the same target and language,
mean over seeds (trials chosen by `selection.SELECTION_RULE`). The language x intermediate matrix averages a
language's gains over the targets that test it, unweighted. These are test values: they are reported, never used
to order or pick anything (languages are listed by code; most have no dev data of their own under `en_dev`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from raytl.report.plots import heatmap
from raytl.report.results import BASELINE
from raytl.report.selection import gain_summary, language_scores, select_trials

LANGUAGE_COLUMNS = ["model", "intermediate", "target", "language", "n_seeds", "score_mean", "gain_mean",
                    "gain_std"]


def language_gains(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, intermediate task, target, language), baseline excluded.

    >>> language_gains(load_results("runs/r1")).query("language == 'sw'")   # doctest: +SKIP
    """
    selected = select_trials(df)
    long = language_scores(selected)[["model", "intermediate", "seed", "target", "language", "value"]]
    stats = gain_summary(long, ["target", "language"])
    stats = stats[stats["intermediate"] != BASELINE]
    return stats[LANGUAGE_COLUMNS].reset_index(drop=True)


def language_matrix(gains: pd.DataFrame, model: str) -> pd.DataFrame:
    """Language x intermediate task matrix of mean gains for one model, averaged over targets unweighted.

    Languages are sorted by code (not by their test gain: test values are never ranked).

    >>> language_matrix(language_gains(df), "xl")    # doctest: +SKIP
    """
    rows = gains[(gains["model"] == model) & gains["gain_mean"].notna()]
    matrix = rows.groupby(["language", "intermediate"])["gain_mean"].mean().unstack("intermediate")
    if matrix.empty:
        return matrix
    tasks = sorted(str(t) for t in matrix.columns)
    return matrix.reindex(index=sorted(matrix.index), columns=tasks)


def plot_languages(gains: pd.DataFrame, model: str, path: str | Path) -> Path:
    """Heatmap PNG, languages x intermediate tasks, of one model's per-language gains; return the path.

    >>> plot_languages(language_gains(df), "xl", "report/languages_xl.png")   # doctest: +SKIP
    """
    matrix = language_matrix(gains, model)
    title = f"XLM-R {model}: per-language gain over no intermediate task"
    return heatmap(matrix, path, title, "gain (points)")
