"""The Optuna study on a PostgreSQL server (`search.study_storage: postgresql://...`): the searcher's whole lifecycle,
including Tune's save/restore of the searcher on `raytl resume`, read back with `optuna.load_study`.
scripts/test.sh starts the server and sets RAYTL_TEST_POSTGRES_URL; CI always runs this."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raytl.config import parse_space
from raytl.search.optuna_searcher import TransferSearch, rdb_storage, with_driver
from raytl.search.space import points_to_evaluate, sampler, search_function
from tests.conftest import tiny_space

URL = os.environ.get("RAYTL_TEST_POSTGRES_URL")  # e.g. postgresql://raytl@127.0.0.1:54329/raytl_test + PGPASSWORD
pytestmark = pytest.mark.skipif(not URL, reason="RAYTL_TEST_POSTGRES_URL is not set: run scripts/test.sh, which "
                                "starts PostgreSQL on 127.0.0.1 (or export the URL of a server you have)")


def _searcher(space) -> TransferSearch:
    return TransferSearch(space=search_function(space), metric="objective", mode="max", sampler=sampler(space),
                          points_to_evaluate=points_to_evaluate(space) or None, study_name=space.name,
                          storage=rdb_storage(URL))


def test_study_lifecycle_and_restore_on_postgres(tmp_path: Path) -> None:
    space = parse_space(tiny_space(tmp_path, name=f"pg-{uuid.uuid4().hex[:8]}", search={
        "num_trials": 4, "study_storage": URL, "defaults_first": True}))
    searcher = _searcher(space)
    first = {trial: searcher.suggest(trial) for trial in ("a", "b")}
    assert [c["intermediate"] for c in first.values()] == ["none", "mnli"]  # the default-lr first pass
    searcher.on_trial_result("a", {"objective": 40.0, "step": 4, "status": "running"})
    searcher.on_trial_complete("a", {"objective": 45.0, "step": 8, "status": "completed"})
    searcher.save(str(tmp_path / "searcher.pkl"))  # what Tune keeps in the experiment state

    restored = TransferSearch()  # `raytl resume`: a new process unpickles the searcher and restores its state
    restored.restore(str(tmp_path / "searcher.pkl"))
    restored.on_trial_result("b", {"objective": 30.0, "step": 4, "status": "running"})
    restored.on_trial_complete("b", {"objective": 30.0, "step": 4, "status": "running"})  # stopped by ASHA
    assert restored.suggest("c") is not None
    restored.on_trial_complete("c", {"objective": float("nan"), "step": 2, "status": "diverged"})

    study = optuna.load_study(study_name=space.name, storage=with_driver(URL))
    summary = [(t.state, t.value, t.intermediate_values) for t in study.trials]
    assert summary == [(TrialState.COMPLETE, 45.0, {4: 40.0}), (TrialState.PRUNED, 30.0, {4: 30.0}),
                       (TrialState.FAIL, None, {})]
    assert study.best_trial.params["intermediate"] == "none"
    optuna.delete_study(study_name=space.name, storage=with_driver(URL))
