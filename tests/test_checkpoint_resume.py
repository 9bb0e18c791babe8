"""A damaged checkpoint is never resumed from (found by `python -m bench chaos`, fault `corrupt_file`: a truncated
DeepSpeed shard failed every retry of the trial and every `raytl resume` the same way). Each rank lists its files
with checksums; a restarted trial takes the latest intact checkpoint of its own, else starts over."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

from raytl.pipeline.resume_point import LATEST, START, choose
from raytl.training.checkpoint_files import intact, write_checksums


def _checkpoint(root: Path, name: str, ranks: int = 2) -> Path:
    """A checkpoint as Ray Train assembles it: each rank's own staging directory merged into one."""
    final = root / name
    for rank in range(ranks):
        staging = root / f"staging-{name}-{rank}"
        (staging / "state").mkdir(parents=True)
        (staging / "state" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_bytes(bytes(range(200)) * 8)
        (staging / f"rng-rank{rank}.pt").write_bytes(b"rng" * 50)
        if rank == 0:
            (staging / "state" / "mp_rank_00_model_states.pt").write_bytes(b"model" * 300)
            (staging / "progress.json").write_text(json.dumps({"step": int(name[-1])}))
        write_checksums(staging, rank)
        for path in staging.rglob("*"):
            if path.is_file():
                target = final / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                path.rename(target)
    return final


def test_intact_checkpoint_is_resumed(tmp_path: Path) -> None:
    _checkpoint(tmp_path, "checkpoint_4")
    latest = _checkpoint(tmp_path, "checkpoint_8")
    assert intact(latest, 2)
    assert choose(latest, tmp_path, 2) == LATEST


def test_truncated_shard_falls_back_to_the_earlier_checkpoint(tmp_path: Path) -> None:
    earlier = _checkpoint(tmp_path, "checkpoint_4")
    latest = _checkpoint(tmp_path, "checkpoint_8")
    shard = latest / "state" / "zero_pp_rank_1_mp_rank_00_optim_states.pt"
    shard.write_bytes(shard.read_bytes()[:100])
    assert not intact(latest, 2)
    assert choose(latest, tmp_path, 2) == str(earlier)


def test_flipped_bytes_and_missing_rank_lists_are_damage(tmp_path: Path) -> None:
    latest = _checkpoint(tmp_path, "checkpoint_8")
    (latest / "checksums-rank1.json").unlink()  # one rank's files never arrived
    assert not intact(latest, 2)
    other = _checkpoint(tmp_path / "b", "checkpoint_8")
    model = other / "state" / "mp_rank_00_model_states.pt"
    data = bytearray(model.read_bytes())
    data[700:716] = bytes(255 - b for b in data[700:716])
    model.write_bytes(bytes(data))
    assert not intact(other, 2)


def test_no_intact_checkpoint_starts_over_and_unlisted_directories_never_count(tmp_path: Path) -> None:
    half = tmp_path / "checkpoint_6"  # a directory half-uploaded before a crash: files, no checksum lists
    (half / "state").mkdir(parents=True)
    (half / "progress.json").write_text("{}")
    latest = _checkpoint(tmp_path, "checkpoint_8")
    (latest / "progress.json").write_text("{")
    assert choose(latest, tmp_path, 2) == START
    assert choose(latest, None, 2) == START  # on an object store: no earlier checkpoints looked for


def test_checkpoints_from_before_checksums_are_trusted(tmp_path: Path) -> None:
    legacy = tmp_path / "checkpoint_4"
    legacy.mkdir()
    (legacy / "progress.json").write_text("{}")
    assert intact(legacy, 2) and choose(legacy, tmp_path, 2) == LATEST
    assert not intact(legacy, 2, required=True)


def test_resume_moves_aside_only_unregistered_incomplete_checkpoints(tmp_path: Path) -> None:
    """Found by bench chaos `disk_full`: the checkpoint being uploaded when the disk filled stayed half-written."""
    from raytl.pipeline.resume_point import SNAPSHOT, quarantine_unregistered

    trial = tmp_path / "train" / "t1"
    registered = _checkpoint(trial, "checkpoint_4")
    complete = _checkpoint(trial, "checkpoint_8")  # uploaded whole, the crash came before its registration
    half = _checkpoint(trial, "checkpoint_9")
    shard = half / "state" / "mp_rank_00_model_states.pt"
    shard.write_bytes(shard.read_bytes()[:10])
    (trial / SNAPSHOT).write_text(json.dumps({"checkpoint_results": [{"checkpoint_dir_name": "checkpoint_4"}]}))

    assert quarantine_unregistered(tmp_path / "train", 2) == [trial / ".corrupt-checkpoint_9"]
    assert registered.is_dir() and complete.is_dir() and not half.exists()
    assert (trial / ".corrupt-checkpoint_9" / "state").is_dir()  # moved aside, nothing deleted
    assert quarantine_unregistered(tmp_path / "missing", 2) == []


def test_a_registration_record_a_full_disk_emptied_goes_aside_and_the_trial_resumes_from_its_checkpoint(
        tmp_path: Path) -> None:
    """Found by bench chaos `disk_full`: Ray Train writes checkpoint_manager_snapshot.json in place; the full disk
    left it empty, and on `raytl resume` Ray Train failed the trial on every retry (JSONDecodeError), ending it as
    failed. Now the record goes aside with the half-written checkpoint, and the trial, which Ray Train then knows
    no checkpoint of, resumes from its newest intact one."""
    from raytl.pipeline.resume_point import SNAPSHOT, quarantine_unregistered, resume_point
    from raytl.training.distributed import Ranks

    trial = tmp_path / "train" / "t2"
    _checkpoint(trial, "checkpoint_4")
    intact_latest = _checkpoint(trial, "checkpoint_8")
    half = _checkpoint(trial, "checkpoint_9")
    (half / "checksums-rank0.json").write_text("")
    (trial / SNAPSHOT).write_text("")

    moved = quarantine_unregistered(tmp_path / "train", 2)
    assert moved == [trial / f".corrupt-{SNAPSHOT}", trial / ".corrupt-checkpoint_9"]
    assert not (trial / SNAPSHOT).exists() and intact_latest.is_dir()
    with patch("ray.train.get_checkpoint", return_value=None), patch.object(Ranks, "broadcast", lambda _, v: v):
        assert resume_point(Ranks(0, 1), trial) is None, "one rank's checksums where two ranks wrote: not intact"
        assert resume_point(Ranks(0, 2), trial) == intact_latest
        assert resume_point(Ranks(0, 2), tmp_path / "train" / "new-trial") is None  # a new trial starts over
        assert resume_point(Ranks(0, 2), None) is None  # a run on an object store: Ray Train's record only


def test_a_finished_trial_restarted_reports_its_summary_instead_of_training(tmp_path: Path) -> None:
    """Found by bench chaos `disk_full`: the disk filled as Tune saved a trial's end, and `raytl resume` trained
    that finished trial again. A restarted trial whose summary says it finished every target reports the metrics it
    reported then (`finished_metrics`); one that has not finished gets None and trains."""
    from raytl.config import parse_space
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.progress import TargetResult, TrialRecord, finished_metrics
    from raytl.pipeline.run_dir import RunDir
    from raytl.training.distributed import Ranks
    from tests.conftest import tiny_space

    space = parse_space(tiny_space(tmp_path, targets=["xnli", "pawsx"]))
    run = RunDir(tmp_path / "run")
    sent: list[dict] = []
    record = TrialRecord(TrialContext(space, TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1), run, "t0"),
                         send=lambda metrics, checkpoint: sent.append(metrics), checkpoint=None)
    record.finish_target("xnli", TargetResult(dev=61.5, step=8, score=58.0), steps=12)
    record.report({})
    assert finished_metrics(space, run.read_json(run.summary("t0"))) is None, "one target of two: it trains on"
    record.finish_target("pawsx", TargetResult(dev=70.25, step=4, score=66.0), steps=12)
    record.report({})
    assert finished_metrics(space, run.read_json(run.summary("t0"))) == sent[-1]
    assert sent[-1]["status"] == "completed" and sent[-1]["objective"] == (61.5 + 70.25) / 2
    assert finished_metrics(space, None) is None
