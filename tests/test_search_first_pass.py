"""`search.first_pass: halving` end to end on real trials: the SEmb prior saved as prior.json, each rung a Tune
experiment whose survivors continue their trials from the checkpoint of the rung before (same trial id, the
target phase's steps carry on), the rungs' ledger, the study over the finalists only, winners, and a resume that
runs nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import PhaseStore
from raytl.search.plan import load_checked
from tests.conftest import tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def test_first_pass_halves_on_real_trials_and_resumes(tmp_path: Path) -> None:
    from raytl.search.modes import continue_search, start_search
    from raytl.search.target_study import target_run

    phase = {"lr": {"low": 1e-3, "high": 3e-3}, "max_steps": 8, "batch_size": 16, "max_length": 48, "eval_every": 2}
    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(
        tmp_path / "runs", name="fp", intermediate_tasks=["none", "mnli", "qqp"], targets=["pawsx"],
        intermediate={**phase, "max_steps": 4}, target=phase,
        search={"mode": "per_target", "first_pass": "halving", "prior": "semb", "top_k": 2, "num_trials": 1,
                "max_failures": 0, "finalists": 1},
        resources={"num_workers": 1, "cpus_per_worker": 1},
        scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3})))
    run = RunDir.of(space.storage, space.name)
    table = start_search(space, run)

    prior = json.loads((run.root / "prior.json").read_text())
    assert [e["method"] for e in prior["tiny"]["pawsx"]] and {e["method"] for e in prior["tiny"]["pawsx"]} == {"semb"}
    sub = target_run(run, "pawsx")
    ledger = json.loads((sub.root / "first_pass.json").read_text())
    assert list(ledger) == ["tiny/rung0", "tiny/rung1"]  # rungs at steps 2 and 8
    first, second = ledger["tiny/rung0"], ledger["tiny/rung1"]
    assert sorted(m["intermediate"] for m in first) == ["mnli", "none", "qqp"] and {m["step"] for m in first} == {2}
    (survivor,) = second
    assert survivor["step"] == 8 and survivor["lineage"] in {m["lineage"] for m in first}
    summary = json.loads(sub.summary(survivor["lineage"]).read_text())
    assert summary["status"] == "completed" and summary["step"] == 8, "the continued trial finished its phase"
    assert len(summary.get("resumed_at", [])) == 1, "it continued from its rung-0 checkpoint, not from scratch"
    stopped = [m["lineage"] for m in first if m["lineage"] != survivor["lineage"]]
    assert {json.loads(sub.summary(t).read_text())["status"] for t in stopped} == {"stopped"}
    assert (sub.root / "first-pass-tiny-rung0").is_dir() and (sub.root / "first-pass-tiny-rung1").is_dir()

    best_trained = max((m for m in first if m["intermediate"] != "none"), key=lambda m: (m["step"], m["score"]))
    study = table[table["trial_id"].isin(set(table["trial_id"]) - {m["lineage"] for m in first})]
    assert len(study) == 1 and study["intermediate"].item() in {best_trained["intermediate"], "none"}
    assert len(table) == 4 and table["trial_id"].is_unique
    assert sorted(b["task"] for b in PhaseStore(run.phases).builds()) == ["mnli", "qqp"]
    winners = json.loads((run.root / "winners.json").read_text())
    assert winners["pawsx"]["objective"] == table.loc[table["status"] == "completed", "objective"].max()

    again = continue_search(space, run)  # every rung replayed from the ledger, the study restored: nothing runs
    assert sorted(again["trial_id"]) == sorted(table["trial_id"])
    assert json.loads((sub.root / "first_pass.json").read_text()) == ledger
