"""Ray's OptunaSearch, made truthful about fidelity: a trial the scheduler stopped early reaches Optuna as PRUNED
(with its intermediate values), a diverged or failed one as FAIL; only finished trials are COMPLETE. Ray's own
class records a stopped trial as COMPLETE with its partial score, which biases the sampler. The value is the
trial's dev objective: Tune's results carry no test score (see raytl.pipeline.progress.trial_metrics)."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

STEP = "step"  # reported target-phase steps: unlike training_iteration, they survive a resume


class TransferSearch(OptunaSearch):
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value, step = result.get(self.metric), result.get(STEP)
        if self._told(trial_id) or step is None or not _finite(value):
            return
        trial = self._ot_trials[trial_id]
        if step not in self._ot_study._storage.get_trial(trial._trial_id).intermediate_values:
            trial.report(value, step)

    def _told(self, trial_id: str) -> bool:
        """Already finished in the study. The study is durable, this searcher's state (Tune saves it every few
        seconds) may be older: a trial told just before a crash is run again after `raytl resume`, and telling it
        twice raised "Cannot tell a COMPLETE trial" and ended the resume (found by bench chaos)."""
        if trial_id in self._completed_trials:
            return True
        if self._ot_study._storage.get_trial(self._ot_trials[trial_id]._trial_id).state.is_finished():
            self._completed_trials.add(trial_id)
            return True
        return False

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if self._told(trial_id):
            return
        result = result or {}
        state = outcome(result, error)
        if state == TrialState.PRUNED:  # Tune hands the result that triggered the stop here, not to on_trial_result
            self.on_trial_result(trial_id, result)
        value = result.get(self.metric) if state == TrialState.COMPLETE else None
        self._ot_study.tell(self._ot_trials[trial_id], value, state=state)
        self._completed_trials.add(trial_id)


def outcome(result: dict[str, Any], error: bool) -> TrialState:
    """COMPLETE only for a trial that finished every target with a finite objective."""
    if error or result.get("status") in ("diverged", "failed"):
        return TrialState.FAIL
    if result.get("status") == "completed" and _finite(result.get("objective")):
        return TrialState.COMPLETE
    return TrialState.PRUNED


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage (SQLite file, PostgreSQL, any SQLAlchemy URL) that `optuna-dashboard` can open."""
    return optuna.storages.RDBStorage(with_driver(url))


def with_driver(url: str) -> str:
    """`postgresql://` -> `postgresql+psycopg2://` when psycopg 3 (SQLAlchemy 2.1's default driver) is absent and
    psycopg2 (raytl's `postgres` extra) is installed; any other URL unchanged.

    >>> with_driver("sqlite:///runs/q/optuna.db")  # postgresql://raytl@db/raytl -> postgresql+psycopg2://raytl@db/raytl
    'sqlite:///runs/q/optuna.db'
    """
    scheme, _, rest = url.partition("://")
    if scheme != "postgresql" or importlib.util.find_spec("psycopg") or not importlib.util.find_spec("psycopg2"):
        return url
    return f"postgresql+psycopg2://{rest}"
