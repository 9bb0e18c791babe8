"""Ray's OptunaSearch, made truthful about fidelity: a trial the scheduler stopped early reaches Optuna as PRUNED
(with its intermediate values), a diverged or failed one as FAIL; only finished trials are COMPLETE. Ray's own
class records a stopped trial as COMPLETE with its partial score, which biases the sampler. The value is the
trial's dev objective: Tune's results carry no test score (see raytl.pipeline.progress.trial_metrics)."""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from raytl.errors import no_space

logger = logging.getLogger(__name__)
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

    def restore(self, checkpoint_path: str) -> None:
        """Tune's saved searcher, then the trials it never heard of put back: a trial asked from the study in the
        seconds between Tune's last save and a crash is RUNNING in the durable study but unknown to the restored
        Tune, so `raytl resume` would never run it and its point (`points_to_evaluate`) was lost for good, the
        budget going to a fresh sample instead (found by bench chaos). Each such trial is closed as FAIL and its
        parameters queued again, so the next trial Tune asks for is that one."""
        super().restore(checkpoint_path)
        known = {trial._trial_id for trial in self._ot_trials.values()}
        for orphan in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if orphan._trial_id not in known:
                self._ot_study.enqueue_trial(orphan.params, user_attrs={"requeued_from": orphan.number})
                self._ot_study.tell(orphan.number, state=TrialState.FAIL)

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
    """An Optuna RDB storage (SQLite file, PostgreSQL, any SQLAlchemy URL) that `optuna-dashboard` can open, and
    that rides out its server restarting (see `ReconnectingStorage`)."""
    return ReconnectingStorage(with_driver(url), engine_kwargs={"pool_pre_ping": True})


class ReconnectingStorage(optuna.storages.RDBStorage):
    """An RDB storage whose calls are retried, for up to `RECONNECT_S` seconds, when the database connection was
    lost: a PostgreSQL restart cuts every connection, and the query in flight used to end the search with a
    traceback (found by bench chaos). Each call is one transaction, rolled back on the error, so running it again
    is safe; a full disk is not retried (raytl.search.storage_full stops the search on it)."""

    RECONNECT_S = 120.0


def _reconnecting(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: ReconnectingStorage, *args: Any, **kwargs: Any) -> Any:
        deadline, wait = time.monotonic() + self.RECONNECT_S, 0.5
        while True:
            try:
                return method(self, *args, **kwargs)
            except optuna.exceptions.StorageInternalError as error:
                if not connection_lost(error, not self.url.startswith("sqlite")) or time.monotonic() + wait > deadline:
                    raise
                logger.warning("Optuna storage: the connection was lost (%s); retrying in %.1f s",
                               error.__cause__, wait)
                time.sleep(wait)
                wait = min(wait * 2, 10.0)
    return call


# Every storage call: the public API, and the private ones Optuna's cache in front of an RDB storage makes.
_CALLS = [name for name, value in vars(optuna.storages.BaseStorage).items()
          if callable(value) and not name.startswith("_") and name != "remove_session"]
for _name in [*_CALLS, "_create_new_trial", "_get_best_trial_id", "_get_stale_trial_ids", "_get_trials",
              "_set_trial_param"]:
    setattr(ReconnectingStorage, _name, _reconnecting(getattr(optuna.storages.RDBStorage, _name)))


def connection_lost(error: BaseException, server: bool) -> bool:
    """The database went away: a connection SQLAlchemy found cut, or, for a database server, any operational
    error (refused while it restarts). Not a bad query, not a full disk, and not SQLite's own operational errors
    (a missing file would otherwise be retried for minutes)."""
    cause = error.__cause__
    if not isinstance(cause, sqlalchemy.exc.DBAPIError) or no_space(error):
        return False
    return cause.connection_invalidated or server and isinstance(cause, sqlalchemy.exc.OperationalError)


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
