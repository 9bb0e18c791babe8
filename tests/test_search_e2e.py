"""The real path end to end: Tune + Optuna -> TorchTrainer (2 workers, gloo) -> DeepSpeed ZeRO-2/3 -> phases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import PhaseStore
from raytl.search.plan import load_checked
from raytl.tasks import TASKS
from tests.conftest import tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

MIXTURE = {"nli_mix": {"tasks": ["mnli", "qqp"], "sampling": "temperature"}}
MIXTURE_POINT = {"model": "tiny", "intermediate": "nli_mix", "lr_intermediate": 2e-3, "lr_target": 2e-3}

# What varies between runs of the same search, and its placeholder (applied in order).
PLACEHOLDERS = (
    (r"/(drive_trial_[0-9a-f]{8})_\d+_[^/]*", r"/\1_<n>_<params>_<time>"),  # Tune's trial folder
    (r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(\.\d+)?", "<time>"),  # checkpoints, Tune's state files
    (r"tfevents\.\d+\.[^/]+$", "tfevents.<time>.<host>"),
    (r"^(phases/builds/)\d+-([0-9a-f]{16})-[0-9a-f]{8}\.json$", r"\1<ns>-\2-<id>.json"),  # one build record
)


def run_tree(root: Path) -> list[str]:
    """Every path under `root` (folders end in '/'), varying parts as placeholders; sorted, repeats kept."""
    names = []
    for path in root.rglob("*"):
        name = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
        for pattern, placeholder in PLACEHOLDERS:
            name = re.sub(pattern, placeholder, name)
        names.append(name)
    return sorted(names)


def expected_tree(trial_ids: list[str], phase_id: str, zero_stage: int, languages: tuple[str, ...]) -> list[str]:
    """The run directory after a search of tiny trials (2 workers, one target, 2 evaluations), as `run_tree`
    writes it: raytl's files (run_dir.py's layout), Ray Tune's and Ray Train's, DeepSpeed's checkpoint files."""
    ranks = (0, 1)
    model_states = (["mp_rank_00_model_states.pt"] if zero_stage < 3 else
                    [f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt" for rank in ranks])
    checkpoint = ["", "latest", "progress.json", "state/", "zero_to_fp32.py", "zero_to_torch.py",
                  *(f"state/{name}" for name in model_states),
                  *(f"state/zero_pp_rank_{rank}_mp_rank_00_optim_states.pt" for rank in ranks),
                  *(f"{kind}-rank{rank}.pt" for kind in ("rng", "selected") for rank in ranks),
                  *(f"checksums-rank{rank}.json" for rank in ranks)]
    tree = ["optuna.db", "phases/", "phases/builds/", f"phases/builds/<ns>-{phase_id}-<id>.json", f"phases/{phase_id}/",
            *(f"phases/{phase_id}/{name}" for name in ("config.json", "manifest.json", "model.safetensors")),
            "train/", "trials/", "tune/", "tune/.validate_storage_marker", "tune/experiment_state-<time>.json",
            "tune/search_gen_state-<time>.json", "tune/searcher-state-<time>.pkl", "tune/tuner.pkl"]
    for trial in trial_ids:
        tune_dir = f"tune/drive_trial_{trial}_<n>_<params>_<time>/"
        tree += [tune_dir, *(tune_dir + name for name in ("events.out.tfevents.<time>.<host>", "params.json",
                                                          "params.pkl", "progress.csv", "result.json"))]
        train = f"train/{trial}/"
        tree += [train, train + ".validate_storage_marker", train + "checkpoint_manager_snapshot.json",
                 *(f"{train}checkpoint_<time>/{name}" for name in checkpoint for _ in range(2))]  # num_to_keep=2
        best, predictions = f"trials/{trial}/best/", f"trials/{trial}/predictions/"
        tree += [f"trials/{trial}/", f"trials/{trial}/summary.json",
                 best, best + "xnli/", best + "xnli/encoder/", best + "xnli/encoder/config.json",
                 best + "xnli/encoder/model.safetensors", best + "xnli/head.json", best + "xnli/head.safetensors",
                 predictions, predictions + "xnli/", *(f"{predictions}xnli/test-{lang}.tsv" for lang in languages)]
    return sorted(tree)


@pytest.mark.parametrize("zero_stage,intermediate", [(2, "mnli"), (3, "nli_mix")])
def test_two_trial_search(tmp_path: Path, zero_stage: int, intermediate: str) -> None:
    """ZeRO-2 with a single intermediate task; ZeRO-3 with a two-task mixture (one head per task)."""
    from raytl.search.tuner import run_joint_study

    overrides = {"name": f"zero{zero_stage}", "deepspeed": {"zero_stage": zero_stage}}
    if intermediate == "nli_mix":
        search = tiny_space(tmp_path)["search"]
        search["points_to_evaluate"][1] = MIXTURE_POINT
        overrides |= {"mixtures": MIXTURE, "intermediate_tasks": ["none", "nli_mix"], "search": search}
    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(tmp_path / "runs", **overrides)))
    run = RunDir.of(space.storage, space.name)
    table = run_joint_study(space, run)
    builds = PhaseStore(run.phases).builds()
    languages = TASKS["xnli"].languages
    assert len(builds) == 1
    assert run_tree(run.root) == expected_tree(list(table["trial_id"]), builds[0]["phase_id"], zero_stage, languages)

    assert sorted(table["intermediate"]) == sorted([intermediate, "none"])
    assert list(table["status"]) == ["completed"] * 2
    for _, row in table.iterrows():
        summary = json.loads(run.summary(row["trial_id"]).read_text())
        per_language = summary["targets"]["xnli"]["languages"]
        assert sorted(per_language) == sorted(languages)
        accuracies = [per_language[lang]["accuracy"] for lang in languages]
        assert all(0 <= value <= 100 for value in accuracies)
        # test: the XTREME-style unweighted mean over languages, for the selected checkpoint; the objective is the
        # English dev accuracy of that checkpoint (one target here), never a test score
        xnli = summary["targets"]["xnli"]
        assert xnli["score"] == pytest.approx(sum(accuracies) / len(accuracies))
        assert summary["selection"] == "en_dev" and list(xnli["dev_languages"]) == ["en"]
        assert summary["objective"] == xnli["dev"] == xnli["dev_languages"]["en"]["accuracy"]
        assert xnli["selected_step"] in (4, 8)
        assert row["objective"] == pytest.approx(summary["objective"])
        predictions = run.predictions(row["trial_id"]) / "xnli"
        assert sorted(p.name for p in predictions.iterdir()) == sorted(f"test-{lang}.tsv" for lang in languages)
        assert len((predictions / "test-de.tsv").read_text().splitlines()) == 48
        checkpoints = list((run.train / row["trial_id"]).glob("checkpoint_*"))
        assert checkpoints, "checkpoints are reported with the metrics"
        assert any((c / "progress.json").is_file() for c in checkpoints)
        best = run.trial(row["trial_id"]) / "best" / "xnli"
        assert (best / "encoder" / "model.safetensors").is_file() and (best / "head.safetensors").is_file()
    assert [b["task"] for b in builds] == [intermediate]
    if intermediate == "nli_mix":  # every task of the mixture trained its own head and is scored on its dev set
        assert sorted(builds[0]["dev"]) == ["mnli", "qqp"] and all(d["accuracy"] > 0 for d in builds[0]["dev"].values())
    assert (run.phases / builds[0]["phase_id"] / "model.safetensors").is_file()

    # the exported predictions score with `raytl score` exactly as the trial scored itself
    from raytl.config import DataConfig
    from raytl.tasks.formats import FORMATS
    from raytl.tasks.loading import load_examples
    from raytl.tasks.scoring import score_dirs

    labels = tmp_path / "labels" / "xnli"
    labels.mkdir(parents=True)
    fmt, data = FORMATS["classification"], DataConfig(**space.data.model_dump())
    for lang in languages:
        examples = load_examples(TASKS["xnli"], "test", lang, data)
        (labels / f"test-{lang}.tsv").write_text(fmt.submission(fmt.references(examples, TASKS["xnli"]), examples)[1])
    best = table.loc[table["objective"].idxmax()]
    scored = score_dirs(run.predictions(best["trial_id"]), tmp_path / "labels")
    assert scored["xnli"]["avg_metric"] == pytest.approx(best["test:xnli"])

    # the report of a real run renders, with its figures
    from raytl.report.render import build_report

    report = build_report(run.root)
    assert "xnli" in report.read_text() and (report.parent / "report.html").stat().st_size > 1000
    assert all(png.stat().st_size > 0 for png in report.parent.glob("*.png"))


def test_concurrent_trials_train_a_shared_intermediate_once(tmp_path: Path) -> None:
    """Two trials needing the same intermediate phase at the same time: one trains it, the other waits and loads."""
    from raytl.search.tuner import run_joint_study

    point = {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 2e-3}
    space = load_checked(write_space(tmp_path / "s.yaml", tiny_space(
        tmp_path / "runs", name="shared", intermediate_tasks=["mnli"],
        resources={"num_workers": 1, "cpus_per_worker": 1},
        search={"num_trials": 2, "max_concurrent_trials": 2, "max_failures": 0,
                "points_to_evaluate": [{**point, "lr_target": 1e-3}, {**point, "lr_target": 3e-3}]})))
    run = RunDir.of(space.storage, space.name)
    table = run_joint_study(space, run)
    assert list(table["status"]) == ["completed"] * 2
    store = PhaseStore(run.phases)
    builds, reuses = store.builds(), store.reuses()
    assert len(builds) == 1 and len(reuses) == 1
    assert {builds[0]["trial_id"], reuses[0]["trial_id"]} == set(table["trial_id"])
    # whether the second trial had to wait depends on how far apart the two worker groups started; the lease
    # race itself is covered in tests/test_store.py
