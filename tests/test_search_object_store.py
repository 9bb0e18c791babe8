"""A whole search with its run directory on s3:// (a local moto S3 server): Tune's state, Train's checkpoints,
the phase store (one build, one reuse), summaries, predictions and the Optuna study all land in the bucket; then
a new head whose disk is empty reports, lists the store, exports and resumes from the URI alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from raytl.pipeline import storage
from tests.conftest import tiny_space, write_space
from tests.objectstore import s3_bucket

pytestmark = pytest.mark.slow

RAYTL = [sys.executable, "-m", "raytl"]


def _raytl(*args: str, mirror: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAYTL_MIRROR": str(mirror)}
    done = subprocess.run([*RAYTL, *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_search_report_export_and_resume_on_s3(tmp_path: Path) -> None:
    with s3_bucket() as bucket:
        runs = storage.join(bucket, "runs")
        name = f"s3-{uuid.uuid4().hex[:8]}"
        space = tiny_space(runs, name=name, search={
            "num_trials": 2, "max_failures": 0, "points_to_evaluate": [
                {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 2e-3, "lr_target": lr}
                for lr in (2e-3, 3e-3)]})
        path = write_space(tmp_path / "s.yaml", space)
        _raytl("search", str(path), mirror=tmp_path / "head")

        uri = storage.join(runs, name)
        files = storage.list_files(uri)
        summaries = {f.split("/")[1]: json.loads(storage.read_bytes(storage.join(uri, f)))
                     for f in files if f.startswith("trials/") and f.endswith("/summary.json")}
        assert len(summaries) == 2 and all(s["status"] == "completed" for s in summaries.values()), summaries
        for trial_id in summaries:
            assert f"trials/{trial_id}/predictions/xnli/test-de.tsv" in files
            assert f"trials/{trial_id}/best/xnli/head.safetensors" in files
            assert any(f.startswith(f"train/{trial_id}/checkpoint_") for f in files), "Train's checkpoints"
        assert any(f.startswith("tune/experiment_state-") for f in files) and "optuna.db" in files
        phases = [f.split("/")[1] for f in files if f.startswith("phases/") and f.endswith("/manifest.json")]
        records = [f.split("/")[1] for f in files if f.startswith(("phases/builds/", "phases/reuses/"))]
        assert len(phases) == 1 and sorted(records) == ["builds", "reuses"], "one build, one reuse"
        stamps = {f: storage.modified(storage.join(uri, f)) for f in files if f.endswith("summary.json")}

        # a new head (same image, so the same mirror path) whose disk is empty: only the URI is left
        new_head = tmp_path / "head"
        shutil.rmtree(new_head)
        report = _raytl("report", uri, mirror=new_head)
        assert Path(report.stdout.strip().splitlines()[-1]).is_file()
        listing = _raytl("store", "ls", uri, mirror=new_head)
        assert f"{phases[0]} " in listing.stdout and "ok (sizes)" in listing.stdout
        trial = next(iter(summaries))
        exported = Path(_raytl("export", uri, "--trial", trial, mirror=new_head).stdout.strip().splitlines()[-1])
        config = json.loads((exported / "xnli" / "config.json").read_text())
        assert (exported / "xnli" / "model.safetensors").is_file()
        assert config["architectures"] == ["XLMRobertaForSequenceClassification"], config
        resumed = _raytl("resume", uri, mirror=new_head)
        assert "completed" in resumed.stdout
        assert {f: storage.modified(storage.join(uri, f)) for f in stamps} == stamps, "no trial ran again"
