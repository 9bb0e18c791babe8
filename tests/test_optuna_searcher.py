"""Trials reach Optuna in their true state: stopped early = PRUNED, diverged = FAIL, finished = COMPLETE."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raytl.config import parse_space
from raytl.search.optuna_searcher import TransferSearch, outcome, rdb_storage
from raytl.search.space import search_function
from tests.conftest import tiny_space


def _searcher(tmp_path: Path) -> TransferSearch:
    space = parse_space(tiny_space(tmp_path))
    return TransferSearch(space=search_function(space), metric="objective", mode="max",
                          sampler=optuna.samplers.RandomSampler(seed=0), study_name="s",
                          storage=rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))


def test_outcomes() -> None:
    assert outcome({"status": "completed", "objective": 60.0}, error=False) == TrialState.COMPLETE
    assert outcome({"status": "running", "objective": 40.0}, error=False) == TrialState.PRUNED
    assert outcome({"status": "diverged", "objective": float("nan")}, error=False) == TrialState.FAIL
    assert outcome({"status": "completed", "objective": 60.0}, error=True) == TrialState.FAIL


def test_stopped_trial_is_pruned_with_its_intermediate_values(tmp_path: Path) -> None:
    searcher = _searcher(tmp_path)
    for trial in ("a", "b", "c"):
        assert searcher.suggest(trial) is not None
    searcher.on_trial_result("a", {"objective": 50.0, "step": 4, "status": "running"})
    searcher.on_trial_result("a", {"objective": 55.0, "step": 8, "status": "completed"})
    searcher.on_trial_complete("a", {"objective": 55.0, "step": 8, "status": "completed"})
    searcher.on_trial_result("b", {"objective": 30.0, "step": 4, "status": "running"})
    searcher.on_trial_result("b", {"objective": 30.0, "step": 4, "status": "running"})  # repeated after a resume
    searcher.on_trial_complete("b", {"objective": 30.0, "step": 4, "status": "running"})
    searcher.on_trial_complete("c", {"objective": float("nan"), "status": "diverged"})

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    states = {t.number: (t.state, t.value, t.intermediate_values) for t in study.trials}
    assert states[0] == (TrialState.COMPLETE, 55.0, {4: 50.0, 8: 55.0})
    assert states[1] == (TrialState.PRUNED, 30.0, {4: 30.0})  # Optuna keeps the value at its fidelity
    assert states[2][0] == TrialState.FAIL


def test_the_result_that_stopped_a_trial_is_recorded(tmp_path: Path) -> None:
    """Tune hands the result that triggered a scheduler stop to `on_trial_complete` only (never to
    `on_trial_result`): it must still become the pruned trial's intermediate value, or TPE cannot rank it."""
    searcher = _searcher(tmp_path)
    assert searcher.suggest("a") is not None
    searcher.on_trial_complete("a", {"objective": 32.8, "step": 20, "status": "running"})
    (trial,) = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
    assert (trial.state, trial.intermediate_values) == (TrialState.PRUNED, {20: 32.8})



def test_a_trial_told_before_a_crash_is_not_told_again_after_resume(tmp_path: Path) -> None:
    """Found by bench chaos: the driver died right after telling Optuna a trial COMPLETE but before Tune saved the
    searcher's state; after `raytl resume` Tune ran the trial again and its second `tell` raised "Cannot tell a
    COMPLETE trial", ending the resume. The study, which is durable, now says whether it was told."""
    searcher = _searcher(tmp_path)
    assert searcher.suggest("a") is not None
    searcher.save(str(tmp_path / "searcher.pkl"))  # what Tune saved before the trial ended
    searcher.on_trial_complete("a", {"objective": 55.0, "step": 8, "status": "completed"})

    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert "a" not in restored._completed_trials
    restored.on_trial_result("a", {"objective": 55.0, "step": 8, "status": "completed"})
    restored.on_trial_complete("a", {"objective": 55.0, "step": 8, "status": "completed"})
    (trial,) = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
    assert (trial.state, trial.value) == (TrialState.COMPLETE, 55.0)


def _cut_connections(storage: optuna.storages.RDBStorage, times: int) -> list[str]:
    """The next `times` queries fail as a PostgreSQL restart makes them fail: a connection SQLAlchemy finds cut."""
    import sqlalchemy

    failed: list[str] = []

    @sqlalchemy.event.listens_for(storage.engine, "before_cursor_execute")
    def cut(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001 (SQLAlchemy's)
        if len(failed) < times:
            failed.append(statement)
            cut_off = Exception("server closed the connection unexpectedly")
            raise sqlalchemy.exc.OperationalError(statement, parameters, cut_off, connection_invalidated=True)
    return failed


def test_a_lost_database_connection_is_retried_not_fatal(tmp_path: Path) -> None:
    """Found by bench chaos: a PostgreSQL restart cut the searcher's query and `raytl search` died with a
    traceback. Now the call runs again once the database answers; the study is as if nothing happened."""
    storage = rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    failed = _cut_connections(storage, times=2)
    trial = study.ask()
    study.tell(trial, 1.0)
    assert len(failed) == 2
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]


def test_a_database_that_stays_away_still_ends_the_search(tmp_path: Path) -> None:
    storage = rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    storage.RECONNECT_S = 2.0
    failed = _cut_connections(storage, times=1000)
    with pytest.raises(optuna.exceptions.StorageInternalError):
        study.ask()
    assert 2 <= len(failed) < 10, "retried with a growing wait, then gave up"
    plain = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'plain.db'}")
    plain_study = optuna.create_study(storage=plain, study_name="s")
    _cut_connections(plain, times=1)
    with pytest.raises(optuna.exceptions.StorageInternalError):
        plain_study.ask()  # what Optuna's own storage does: the reason for ReconnectingStorage


def test_resume_runs_a_trial_asked_after_tunes_last_save(tmp_path: Path) -> None:
    """Found by bench chaos: the driver died seconds after the study handed out the second point (`none`), before
    Tune saved; `raytl resume` restored a searcher that never knew it, the `none` point was never run and its
    place went to another `mnli` sample. Now the orphan is closed as FAIL and its point asked again."""
    from raytl.search.space import points_to_evaluate

    space = parse_space(tiny_space(tmp_path, search={"num_trials": 3, "defaults_first": True}))
    searcher = TransferSearch(space=search_function(space), metric="objective", mode="max",
                              sampler=optuna.samplers.RandomSampler(seed=0), study_name="s",
                              points_to_evaluate=points_to_evaluate(space),
                              storage=rdb_storage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    first = searcher.suggest("a")
    searcher.save(str(tmp_path / "searcher.pkl"))  # Tune's last save
    lost = searcher.suggest("b")  # asked from the study, then the driver died
    assert (first["intermediate"], lost["intermediate"]) == ("none", "mnli")

    restored = TransferSearch()
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("c") == lost
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.FAIL, TrialState.RUNNING]
    assert study.trials[2].user_attrs["requeued_from"] == 1
    again = TransferSearch()  # Tune never saved 'c' either: a second crash and resume puts the point back again
    again.restore(str(tmp_path / "searcher.pkl"))
    assert again.suggest("d") == lost
    assert [t.state for t in optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
            ] == [TrialState.RUNNING, TrialState.FAIL, TrialState.FAIL, TrialState.RUNNING]
