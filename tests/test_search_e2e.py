"""The real path end to end: Tune + Optuna -> TorchTrainer (2 workers, gloo) -> DeepSpeed ZeRO-2/3 -> phases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import ray

from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import PhaseStore
from raytl.plan import load_checked
from raytl.tasks import TASKS
from tests.conftest import tiny_space, write_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    yield
    ray.shutdown()


MIXTURE = {"nli_mix": {"tasks": ["mnli", "qqp"], "sampling": "temperature"}}
MIXTURE_POINT = {"model": "tiny", "intermediate": "nli_mix", "lr_intermediate": 2e-3, "lr_target": 2e-3}


@pytest.mark.parametrize("zero_stage,intermediate", [(2, "mnli"), (3, "nli_mix")])
def test_two_trial_search(tmp_path: Path, zero_stage: int, intermediate: str) -> None:
    """ZeRO-2 with a single intermediate task; ZeRO-3 with a two-task mixture (one head per task)."""
    from raytl.search.tuner import run_search

    overrides = {"name": f"zero{zero_stage}", "deepspeed": {"zero_stage": zero_stage}}
    if intermediate == "nli_mix":
        search = tiny_space(tmp_path)["search"]
        search["points_to_evaluate"][1] = MIXTURE_POINT
        overrides |= {"mixtures": MIXTURE, "intermediate_tasks": ["none", "nli_mix"], "search": search}
    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(tmp_path / "runs", **overrides)))
    run = RunDir.of(space.storage, space.name)
    table = run_search(space, run)

    assert sorted(table["intermediate"]) == sorted([intermediate, "none"])
    assert list(table["status"]) == ["completed"] * 2
    languages = TASKS["xnli"].languages
    for _, row in table.iterrows():
        summary = json.loads(run.summary(row["trial_id"]).read_text())
        per_language = summary["targets"]["xnli"]["languages"]
        assert sorted(per_language) == sorted(languages)
        accuracies = [per_language[lang]["accuracy"] for lang in languages]
        assert all(0 <= value <= 100 for value in accuracies)
        # the objective is the XTREME-style unweighted mean over languages (one target here)
        assert summary["objective"] == pytest.approx(sum(accuracies) / len(accuracies))
        assert row["objective"] == pytest.approx(summary["objective"])
        predictions = run.predictions(row["trial_id"]) / "xnli"
        assert sorted(p.name for p in predictions.iterdir()) == sorted(f"test-{lang}.tsv" for lang in languages)
        assert len((predictions / "test-de.tsv").read_text().splitlines()) == 48
        checkpoints = list((run.train / row["trial_id"]).glob("checkpoint_*"))
        assert checkpoints, "checkpoints are reported with the metrics"
        assert any((c / "progress.json").is_file() for c in checkpoints)
        best = run.trial(row["trial_id"]) / "best" / "xnli"
        assert (best / "encoder" / "model.safetensors").is_file() and (best / "head.safetensors").is_file()
    builds = PhaseStore(run.phases).builds()
    assert [b["task"] for b in builds] == [intermediate]
    if intermediate == "nli_mix":  # every task of the mixture trained its own head and is scored on its dev set
        assert sorted(builds[0]["dev"]) == ["mnli", "qqp"] and all(d["accuracy"] > 0 for d in builds[0]["dev"].values())
    assert (run.phases / builds[0]["phase_id"] / "model.safetensors").is_file()

    # the report of a real run renders, with its figures
    from raytl.report.render import build_report

    report = build_report(run.root)
    assert "xnli" in report.read_text() and (report.parent / "report.html").stat().st_size > 1000
    assert all(png.stat().st_size > 0 for png in report.parent.glob("*.png"))
