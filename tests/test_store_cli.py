"""`raytl store ls|gc` on a run directory in the real layout (no Ray): references, live and best trials, quarantined
and stale copies, checkpoint retention, dry run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from raytl.cli import app
from raytl.config import parse_space
from raytl.pipeline.housekeeping import plan_gc
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.pipeline.run_dir import RunDir, write_json
from raytl.pipeline.store import PhaseStore
from tests.conftest import tiny_space

OLD = time.time() - 7200

# trial id: (intermediate, lr, Tune status, summary status, xnli score)
TRIALS = {
    "best": ("mnli", 1e-3, "TERMINATED", "completed", 60.0),
    "worse": ("qqp", 2e-3, "TERMINATED", "completed", 40.0),
    "running": ("mnli", 3e-3, "RUNNING", "running", 30.0),
    "errored": ("qqp", 1e-3, "ERRORED", "running", 35.0),
    "baseline": ("none", 0.0, "TERMINATED", "completed", 50.0),
}


def _publish(store: PhaseStore, phase_id: str, task: str, builder: str) -> Path:
    path = store.publish(phase_id, lambda tmp: (tmp / "model.safetensors").write_bytes(os.urandom(256)),
                         {"task": task, "trial_id": builder})
    os.utime(path, (OLD, OLD))
    return path


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return make_run(tmp_path)


def make_run(tmp_path: Path) -> RunDir:
    """Five trials, their phases, an orphan phase, a quarantined and two temporary copies, and checkpoints."""
    run = RunDir(tmp_path / "run")
    space = parse_space(tiny_space(tmp_path))
    run.root.mkdir()
    run.space.write_text(yaml.safe_dump(space.model_dump(mode="json")))
    store, tune = PhaseStore(run.phases), []
    for trial_id, (task, lr, tune_status, status, score) in TRIALS.items():
        params = TrialParams("tiny", task, lr, 2e-3, 0)
        config = {"model": "tiny", "intermediate": task, "lr_intermediate": lr, "lr_target": 2e-3, "seed": 0}
        write_json(run.summary(trial_id), {"trial_id": trial_id, "status": status, "config": config,
                                           "objective": score,
                                           "targets": {"xnli": {"dev": score, "score": 100 - score}}})
        tune.append([json.dumps({"trial_id": trial_id, "status": tune_status, "config": config}), "{}"])
        if task != "none":
            _publish(store, intermediate_phase_id(space, params), task, trial_id)
        checkpoint = run.train / trial_id / "checkpoint_2026-01-01_00-00-00.000000"
        (checkpoint / "state").mkdir(parents=True)
        (checkpoint / "state" / "shard.pt").write_bytes(b"x" * 1000)
        (checkpoint / "progress.json").write_text("{}")
        (run.train / trial_id / "checkpoint_manager_snapshot.json").write_text("{}")
    _publish(store, "0" * 16, "mnli", "gone")
    for name, mtime in ((".corrupt-1111111111111111-abcd1234", OLD), (".tmp-2222222222222222-abcd1234", OLD),
                        (".tmp-3333333333333333-abcd1234", time.time())):
        (run.phases / name).mkdir()
        (run.phases / name / "model.safetensors").write_bytes(b"y" * 100)
        os.utime(run.phases / name, (mtime, mtime))
    write_json(run.tune / "experiment_state-2026-01-01_00-00-00.json", {"trial_data": tune})
    return run


def _phase(run: RunDir, trial: str) -> str:
    task, lr, *_ = TRIALS[trial]
    return intermediate_phase_id(parse_space(yaml.safe_load(run.space.read_text())), TrialParams("tiny", task, lr,
                                                                                                 2e-3, 0))


def test_ls_shows_task_model_size_checksum_and_trials(run: RunDir) -> None:
    (run.phases / _phase(run, "worse") / "model.safetensors").write_bytes(b"tampered")
    out = CliRunner().invoke(app, ["store", "ls", str(run.root)])
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines()[1:]}
    best = lines[_phase(run, "best")]
    size = sum(p.stat().st_size for p in (run.phases / _phase(run, "best")).iterdir())
    assert "mnli" in best and " tiny " in best and f" {size} B " in best and " ok " in best
    assert best.rstrip().endswith("best (TERMINATED)")
    assert "corrupt: model.safetensors" in lines[_phase(run, "worse")]
    assert "running (RUNNING)" in lines[_phase(run, "running")]
    assert lines["0" * 16].rstrip().endswith("-")
    assert ".corrupt-1111111111111111-abcd1234" in lines


def test_gc_keeps_live_and_best_and_removes_the_rest(run: RunDir) -> None:
    before = sorted(p.name for p in run.phases.iterdir())
    dry = CliRunner().invoke(app, ["store", "gc", str(run.root), "--dry-run"])
    assert dry.exit_code == 0 and "would remove" in dry.output and "would free" in dry.output
    assert sorted(p.name for p in run.phases.iterdir()) == before, "a dry run removes nothing"
    done = CliRunner().invoke(app, ["store", "gc", str(run.root)])
    assert done.exit_code == 0, done.output
    left = {p.name for p in run.phases.iterdir() if p.is_dir()} - {"builds", "reuses"}  # the records
    assert left == {_phase(run, "best"), _phase(run, "running"), _phase(run, "errored"),
                    ".tmp-3333333333333333-abcd1234"}, "young temporary copies may still be written"
    assert PhaseStore(run.phases).verified(_phase(run, "best")) is not None
    # finished trials keep only progress.json in their checkpoints; live ones keep everything
    for trial, shards in (("best", False), ("worse", False), ("running", True), ("errored", True)):
        checkpoint = next((run.train / trial).glob("checkpoint_2*"))
        assert (checkpoint / "progress.json").is_file()
        assert (checkpoint / "state").exists() == shards, trial
    assert (run.train / "best" / "checkpoint_manager_snapshot.json").is_file()


def test_gc_keeps_young_phases_and_phases_whose_ids_changed(run: RunDir, tmp_path: Path) -> None:
    young = _publish(PhaseStore(run.phases), "4" * 16, "mnli", "gone")
    os.utime(young)  # just published: a trial may be about to load it
    moved = _publish(PhaseStore(run.phases), "5" * 16, "qqp", "worse")  # its builder now hashes elsewhere
    removals, kept = plan_gc(run, min_age_s=600)
    removed = {Path(r.location).name for r in removals}
    assert "4" * 16 not in removed and "5" * 16 not in removed and "0" * 16 in removed
    assert any(line.startswith("5" * 16 + ": phase ids changed") for line in kept)
    assert moved.is_dir()


def test_gc_needs_a_run_directory(tmp_path: Path) -> None:
    from raytl.errors import InputError

    with pytest.raises(InputError, match="not a run directory"):
        CliRunner().invoke(app, ["store", "gc", str(tmp_path)], catch_exceptions=False)
