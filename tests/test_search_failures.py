"""A trial whose loss becomes NaN/inf (an absurd learning rate, a configuration a user can write) ends early as
'diverged', is told to Optuna as FAIL, and the other trial completes. (A crashed Train worker retried from the last
checkpoint is tested on a multi-node cluster in tests/test_fault_tolerance.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raytl.pipeline.run_dir import RunDir
from raytl.search.plan import load_checked
from tests.conftest import tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

ABSURD_LR = 1e30  # Adam moves every weight by ~lr: the next forward pass overflows


def test_divergence_ends_the_trial_early_and_the_search_goes_on(tmp_path: Path) -> None:
    from raytl.search.tuner import run_joint_study

    phase = {"lr": {"low": 1e-3, "high": 1e30}, "max_steps": 12, "batch_size": 16, "max_length": 48,
             "eval_every": 4}
    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(
        tmp_path / "runs", name="failures", intermediate_tasks=["none"], target=phase,
        search={"num_trials": 2, "max_failures": 1, "points_to_evaluate": [
            {"model": "tiny", "intermediate": "none", "lr_target": ABSURD_LR},
            {"model": "tiny", "intermediate": "none", "lr_target": 2e-3},
        ]})))
    run = RunDir.of(space.storage, space.name)
    table = run_joint_study(space, run)

    rows = {row["lr_target"]: row for _, row in table.iterrows()}
    healthy = json.loads(run.summary(rows[2e-3]["trial_id"]).read_text())
    assert healthy["status"] == "completed" and healthy["step"] == 12
    diverged = json.loads(run.summary(rows[ABSURD_LR]["trial_id"]).read_text())
    assert rows[ABSURD_LR]["status"] == diverged["status"] == "diverged"
    assert "loss is" in diverged["note"] and diverged["step"] < 4, diverged["note"]

    study = optuna.load_study(study_name=space.name, storage=f"sqlite:///{run.optuna_db}")
    states = {t.params["lr_target"]: t.state for t in study.trials}
    assert states == {2e-3: TrialState.COMPLETE, ABSURD_LR: TrialState.FAIL}
