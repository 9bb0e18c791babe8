"""`search.prior`: the transferability ranking that orders a per-target first pass (`raytl rank`'s SEmb or LogME),
computed once when the search starts and kept as RUN_DIR/prior.json, in `raytl rank --json`'s layout; a resumed
search reads it back, so its first pass makes the same choices. The report scores it against the measured gains
(`raytl.report.priors`)."""

from __future__ import annotations

from typing import Any

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.pipeline.run_dir import RunDir
from raytl.search.first_pass import Prior, catalogue_prior

Ranking = dict[str, dict[str, list[dict[str, Any]]]]


def search_prior(space: SearchSpace, run: RunDir) -> Prior:
    """The run's prior, best first per model and target: computed (and saved) on the first call, read after."""
    method = space.search.prior
    if method == "none":
        return catalogue_prior(space)
    path = run.root / "prior.json"
    ranking = run.read_json(path)
    if ranking is None:
        from raytl.search.rank import RankSettings, rank

        print(f"--- prior: ranking the intermediate tasks by {method} (raytl rank)", flush=True)
        ranking = rank(space, run, RankSettings(methods=(method,)))
        check_scored(ranking, method)
        run.write_json(path, ranking)
    return prior_order(space, ranking, method)


def check_scored(ranking: Ranking, method: str) -> None:
    """Every trained task needs a score; LogME's come from encoders in the phase store."""
    for model, targets in ranking.items():
        for target, entries in targets.items():
            for entry in entries:
                if entry["method"] == method and entry["score"] is None and entry["intermediate"] != NO_INTERMEDIATE:
                    raise InputError(
                        f"search.prior: {method} has no score for {entry['intermediate']} ({model}, {target}): "
                        f"{entry.get('missing', 'not scored')}; allowed: run `raytl rank SPACE --method {method} "
                        "--train-missing` first, or prior: semb (training-free)")


def prior_order(space: SearchSpace, ranking: Ranking, method: str) -> Prior:
    """Per model and target, the trained tasks by the method's score, best first; unscored ones after, in the
    space's order.

    >>> from raytl.config import parse_space
    >>> space = parse_space({"name": "p", "models": ["tiny"], "intermediate_tasks": ["none", "mnli", "qqp"],
    ...     "targets": ["pawsx"], "intermediate": {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 4},
    ...     "target": {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 4}})
    >>> prior_order(space, {"tiny": {"pawsx": [{"intermediate": "qqp", "score": 0.9, "method": "semb"},
    ...     {"intermediate": "mnli", "score": 0.7, "method": "semb"}]}}, "semb")
    {'tiny': {'pawsx': ['qqp', 'mnli']}}
    """
    trained = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
    order: Prior = {}
    for model in space.models:
        for target in space.targets:
            entries = ranking.get(model, {}).get(target, [])
            scored = sorted((e for e in entries if e["method"] == method and e["score"] is not None
                             and e["intermediate"] in trained), key=lambda e: -e["score"])
            ranked = [e["intermediate"] for e in scored]
            order.setdefault(model, {})[target] = ranked + [task for task in trained if task not in ranked]
    return order
