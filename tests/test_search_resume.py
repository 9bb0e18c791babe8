"""`raytl search` killed with SIGKILL mid-search, then `raytl resume`: finished trials are not run again, the
search completes, and the Optuna storage holds every finished trial. Then `raytl rerun` adds a seed to a finished
configuration and reports mean and spread. Uses the PostgreSQL server when RAYTL_TEST_POSTGRES_URL is set
(scripts/test.sh starts one), else SQLite in the run directory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raytl.search.optuna_searcher import with_driver
from tests.conftest import tiny_space, write_space

pytestmark = pytest.mark.slow

RAYTL = [sys.executable, "-m", "raytl"]


def _wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process is None or process.poll() is None, f"the search exited early while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _summaries(run: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in run.glob("trials/*/summary.json")}


def _recorded_finished(run: Path) -> bool:
    """Tune's experiment state (saved every ~10 s) records a finished trial."""
    return any("TERMINATED" in p.read_text() for p in (run / "tune").glob("experiment_state-*.json"))


def test_sigkill_then_resume_then_rerun_with_seeds(tmp_path: Path) -> None:
    name = f"resume-{uuid.uuid4().hex[:8]}"
    storage = os.environ.get("RAYTL_TEST_POSTGRES_URL")
    space = tiny_space(tmp_path / "runs", name=name, intermediate_tasks=["none"], search={
        "num_trials": 3, "max_failures": 1, **({"study_storage": storage} if storage else {}), "points_to_evaluate": [
            {"model": "tiny", "intermediate": "none", "lr_target": lr} for lr in (1e-3, 2e-3, 3e-3)]})
    space["target"].update(max_steps=12, eval_every=4)
    path = write_space(tmp_path / "s.yaml", space)
    run = tmp_path / "runs" / name
    log = (tmp_path / "search.log").open("w")
    started = time.monotonic()
    search = subprocess.Popen([*RAYTL, "search", str(path)], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        _wait_for(lambda: run.is_dir() and _recorded_finished(run), 600, "a finished trial in Tune's state", search)
        finished_before = {t: s for t, s in _summaries(run).items() if s["status"] == "completed"}
        _wait_for(lambda: len(_summaries(run)) > len(finished_before), 300, "the next trial's first report", search)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already (then an assertion says why)
            os.kill(search.pid, signal.SIGKILL)  # the driver, as a crashed head would lose it
        search.wait()
        time.sleep(2)
        with contextlib.suppress(ProcessLookupError):  # the driver's local Ray would otherwise keep the CPUs
            os.killpg(search.pid, signal.SIGKILL)
    killed_at = time.monotonic() - started
    console = (tmp_path / "search.log").read_text()  # what `raytl search` printed
    assert re.search(r"\] trial \w+ \(none, tiny\) xnli step \d+/12 objective ", console), console[-3000:]
    mtimes = {t: (run / "trials" / t / "summary.json").stat().st_mtime for t in finished_before}

    started = time.monotonic()
    resumed = subprocess.run([*RAYTL, "resume", str(run)], capture_output=True, text=True, timeout=900)
    resume_s = time.monotonic() - started
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # the libraries' warnings (DeepSpeed's "[WARNING]" lines, Ray's "\tWARNING") went to the run's log, not the console
    assert not re.search(r"\[WARNING\]|\tWARNING ", console + resumed.stdout + resumed.stderr)
    assert (run / "search.log").stat().st_size > 0
    summaries = _summaries(run)
    assert len(summaries) == 3 and all(s["status"] == "completed" for s in summaries.values()), summaries
    for trial_id, mtime in mtimes.items():
        assert (run / "trials" / trial_id / "summary.json").stat().st_mtime == mtime, f"{trial_id} ran again"
    url = with_driver(storage) if storage else f"sqlite:///{run / 'optuna.db'}"
    study = optuna.load_study(study_name=name, storage=url)
    complete = sorted(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    assert complete == pytest.approx(sorted(s["objective"] for s in summaries.values()))
    print(f"\nkilled after {killed_at:.0f}s with {len(finished_before)} finished; resume took {resume_s:.0f}s; "
          f"optuna trials: {[t.state.name for t in study.trials]}")

    first = next(iter(finished_before))
    started = time.monotonic()
    rerun = subprocess.run([*RAYTL, "rerun", str(run), "--trial", first, "--seeds", "0,1"], capture_output=True,
                           text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    report = json.loads((run / "reruns" / f"{first}.json").read_text())
    assert sorted(report["seeds"]) == ["0", "1"] and report["seeds"]["0"]["trial_id"] == first
    assert report["objective"]["n"] == 2 and report["objective"]["std"] >= 0 and report["failed_seeds"] == []
    assert len(_summaries(run)) == 4, "seed 0 was reused, only seed 1 ran"
    print(f"rerun with one new seed took {time.monotonic() - started:.0f}s: {report['objective']}")
