"""The report's "Answer so far": per model, which intermediate task helps, on average and per target.

Chosen on dev (the largest mean dev gain over `none`), shown with its TEST gain. A task answers only when its dev
gain is above 0; otherwise the answer is that no intermediate task beats the baseline, and the closest task is
named beside it, so a negative gain is never presented as the best task.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from raytl.report.document import plus_minus
from raytl.report.results import BASELINE
from raytl.report.transfer import best_per_target, flag_text

ANSWER_COLUMNS = ["model", "best on average", "average gain", "best per target"]
NO_WINNER = "none, no intermediate task beats the baseline"


def answer_table(transfer: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """One row per model that has a gain: the best task on average and per target (`NO_WINNER` where no task's
    dev gain is above 0), with test gains (mean +- std over seeds) and the margin flag of `best_per_target`.

    >>> answer_table(transfer_table(df), scaling_table(df))   # doctest: +SKIP
    """
    best = best_per_target(transfer)
    rows = []
    for model in dict.fromkeys([*scaling["model"], *best["model"]]):
        tasks = scaling[(scaling["model"] == model) & (scaling["intermediate"] != BASELINE)]
        tasks = tasks[tasks["dev_gain_mean"].notna()]
        per_target = best[best["model"] == model]
        if tasks.empty and per_target.empty:
            continue
        top = tasks.loc[tasks["dev_gain_mean"].idxmax()] if not tasks.empty else None
        rows.append({"model": model, **_average(top),
                     "best per target": "; ".join(_per_target(r) for r in per_target.itertuples())})
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def _average(top: pd.Series | None) -> dict[str, str | None]:
    if top is None:
        return {"best on average": None, "average gain": None}
    gain = plus_minus(top["gain_mean"], top["gain_std"])
    if top["dev_gain_mean"] > 0:
        return {"best on average": top["intermediate"], "average gain": gain}
    return {"best on average": f"{NO_WINNER} (closest: {top['intermediate']})",
            "average gain": f"{top['intermediate']} {gain}"}


def _per_target(row: Any) -> str:
    gain = f"{row.best} {row.best_gain:+.2f}"
    if row.best_dev_gain > 0:
        return f"{row.target}: {gain} ({flag_text(row.margin_exceeds_spread)})"
    return f"{row.target}: {NO_WINNER} (closest: {gain})"
