"""`search.mode: per_target` end to end: one grid study per target (each its own Tuner, study and run directory),
one shared phase store (the intermediate encoder is trained once for both targets), per-target phase overrides
reaching the pipeline, winners per target, and a resume that runs nothing again."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import PhaseStore
from raytl.search.plan import load_checked
from tests.conftest import tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def test_best_intermediate_per_target(tmp_path: Path) -> None:
    from raytl.search.modes import continue_search, start_search
    from raytl.search.target_study import target_run

    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(
        tmp_path / "runs", name="pt", intermediate_tasks=["mnli"], targets=["xnli", "pawsx"],
        search={"mode": "per_target", "algorithm": "grid", "max_failures": 0},
        target_overrides={"pawsx": {"max_steps": 4, "lr": {"low": 1e-3, "high": 1e-3}}})))
    run = RunDir.of(space.storage, space.name)
    table = start_search(space, run)

    assert sorted(table["target"]) == ["pawsx", "xnli"] and set(table["status"]) == {"completed"}
    steps = {}
    for target in ("xnli", "pawsx"):
        sub = target_run(run, target)
        (summary,) = [json.loads(p.read_text()) for p in sub.root.glob("trials/*/summary.json")]
        assert list(summary["targets"]) == [target]
        steps[target] = summary["step"]
        assert sub.space.is_file() and sub.phase_store().location == run.phase_store().location
    assert steps == {"xnli": 8, "pawsx": 4}, "the pawsx override (max_steps 4) reached train_target"
    pawsx_lr = table.loc[table["target"] == "pawsx", "lr_target"].item()
    assert pawsx_lr == pytest.approx(1e-3), "grid mode uses the target's own (overridden) default learning rate"
    assert [b["task"] for b in PhaseStore(run.phases).builds()] == ["mnli"], "one encoder, shared by both targets"

    storage = f"sqlite:///{run.optuna_db}"
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == ["pt.pawsx", "pt.xnli"]
    assert all(t.state.name == "COMPLETE" for n in names for t in optuna.load_study(study_name=n,
                                                                                    storage=storage).trials)
    winners = json.loads((run.root / "winners.json").read_text())
    assert sorted(winners) == ["pawsx", "xnli"] and winners["xnli"]["intermediate"] == "mnli"

    # the paper's table, end to end: baseline-free here, so the dev-selected task is mnli for both targets
    from raytl.report.render import build_report

    report = build_report(run.root)
    assert "Headline" in report.read_text()
    headline = (report.parent / "headline.csv").read_text()
    assert "xnli" in headline and "pawsx" in headline and "mnli" in headline

    again = continue_search(space, run)  # both studies finished: restored, nothing runs again
    assert sorted(again["trial_id"]) == sorted(table["trial_id"])
    assert len(list(run.root.glob("targets/*/trials/*/summary.json"))) == 2
