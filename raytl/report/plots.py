"""The report's two figure kinds, drawn on matplotlib's Agg canvas (no pyplot, so no global backend state)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from raytl.models.zoo import size_label


def heatmap(matrix: pd.DataFrame, path: str | Path, title: str, label: str) -> Path:
    """Draw a diverging heatmap (0 = white) of `matrix` with each cell's value written in it; return `path`.

    NaN cells are left grey and unlabelled.

    >>> heatmap(pd.DataFrame({"xnli": [1.5]}, index=["mnli"]), "t.png", "gain", "points")  # doctest: +SKIP
    """
    values = matrix.to_numpy(dtype=float)
    fig = Figure(figsize=(3.0 + 0.7 * max(len(matrix.columns), 3), 1.6 + 0.45 * max(len(matrix.index), 2)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound if bound > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormaps["RdBu"].with_extremes(bad="#dddddd"),
                      aspect="auto", norm=TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound))
    ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    for (i, j), value in np.ndenumerate(values):
        if math.isfinite(value):
            color = "white" if abs(value) > 0.6 * bound else "black"
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=8, color=color)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return _save(fig, path)


def size_lines(table: pd.DataFrame, path: str | Path, groups: list[str], title: str) -> Path:
    """Score and gain against parameters (log x-axis): one column of panels per complexity group.

    `table` has model_params, intermediate, intermediate_group, score_mean, gain_mean (and their *_std);
    the `none` baseline is drawn dashed in every score panel as the reference.

    >>> size_lines(scaling_table(df), "scaling.png", ["simple NLI"], "run r1")  # doctest: +SKIP
    """
    fig = Figure(figsize=(1.0 + 4.0 * max(len(groups), 1), 7.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, max(len(groups), 1), squeeze=False, sharex=True)
    baseline = table[table["intermediate_group"] == "baseline"].sort_values("model_params")
    for col, group in enumerate(groups):
        rows = table[table["intermediate_group"] == group]
        for metric, ax in zip(("score", "gain"), axes[:, col], strict=True):
            for task, line in rows.groupby("intermediate"):
                line = line.sort_values("model_params")
                yerr = line[f"{metric}_std"].fillna(0.0)
                ax.errorbar(line["model_params"], line[f"{metric}_mean"], yerr=yerr, marker="o", capsize=3,
                            label=str(task))
            if metric == "score" and not baseline.empty:
                ax.plot(baseline["model_params"], baseline["score_mean"], "k--", marker="s", label="none")
            if metric == "gain":
                ax.axhline(0.0, color="k", linewidth=0.8)
            _size_axis(ax, table)
            ax.set_title(f"{group}: {metric}")
            ax.set_ylabel("mean task score" if metric == "score" else "gain over none (points)")
            ax.legend(fontsize=7)
        axes[1, col].set_xlabel("parameters")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def complexity_lines(levels: pd.DataFrame, fitted: pd.DataFrame | None, path: str | Path) -> Path:
    """Gain against parameters (log x-axis), one colour per complexity level: measured means with their seed
    std as error bars, and the fitted interaction model's line for the same level dashed.

    `levels` has complexity, model, model_params, gain_mean, gain_std; `fitted` complexity, model_params, gain.

    >>> complexity_lines(level_table(rows), None, "complexity.png")  # doctest: +SKIP
    """
    fig = Figure(figsize=(7.0, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = colormaps["viridis"]
    top = max(int(levels["complexity"].max()), 1) if not levels.empty else 1
    for level, line in levels.groupby("complexity"):
        line = line.sort_values("model_params")
        colour = colours(float(level) / top)
        ax.errorbar(line["model_params"], line["gain_mean"], yerr=line["gain_std"].fillna(0.0), marker="o",
                    capsize=3, color=colour, label=f"level {int(level)}")
        if fitted is not None:
            curve = fitted[fitted["complexity"] == level]
            ax.plot(curve["model_params"], curve["gain"], "--", color=colour, linewidth=1)
    ax.axhline(0.0, color="k", linewidth=0.8)
    if not levels.empty:
        _size_axis(ax, levels)
    ax.set_xlabel("parameters")
    ax.set_ylabel("gain over none (points)")
    ax.set_title("Gain by model size per complexity level (dashed: gain ~ log10(params) x level)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _size_axis(ax: Axes, table: pd.DataFrame) -> None:
    """Log x-axis ticked at the run's models only, labelled with name and size (the default minor labels
    of a log axis spanning less than a decade overlap)."""
    sizes = table.groupby("model")["model_params"].max().sort_values()
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes.to_list(), [f"{m}\n{size_label(p)}" for m, p in sizes.items()])


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110)
    return path
