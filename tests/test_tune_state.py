"""A damaged Tune state file in a run directory is put back from Ray's session copy before a resume, or the resume
stops with one line: never Tune's silent restart, which dropped the trials it had run (bench chaos `disk_full`)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from raytl.errors import InputError
from raytl.search import tune_state

SESSION = "2026-12-06_10-25-25"


def _state(directory: Path, trials: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"experiment_state-{SESSION}.json").write_text(json.dumps({"trial_data": trials}))
    (directory / f"search_gen_state-{SESSION}.json").write_bytes(pickle.dumps({"counter": len(trials)}))  # as Tune
    (directory / f"searcher-state-{SESSION}.pkl").write_bytes(pickle.dumps({"trials": trials}))


def test_a_truncated_experiment_state_is_put_back_from_rays_session_copy(tmp_path: Path) -> None:
    tune_dir, ray_tmp = tmp_path / "run" / "tune", tmp_path / "ray"
    _state(tune_dir, ["a"])  # the state of an earlier save
    staging = ray_tmp / "session_x" / "artifacts" / SESSION / "tune" / "driver_artifacts"
    _state(staging, ["a", "b"])  # the save whose copy into the run directory the full disk cut short
    state = tune_dir / f"experiment_state-{SESSION}.json"
    state.write_text(state.read_text()[:10])
    assert tune_state.damaged(tune_dir) == [state], "Tune's generator state is a pickle named .json: readable"

    replaced = tune_state.repair(tune_dir, ray_tmp)
    assert sorted(p.name for p in replaced) == sorted(p.name for p in staging.iterdir())
    assert json.loads(state.read_text()) == {"trial_data": ["a", "b"]}
    assert pickle.loads((tune_dir / f"searcher-state-{SESSION}.pkl").read_bytes()) == {"trials": ["a", "b"]}
    assert tune_state.damaged(tune_dir) == [] and tune_state.repair(tune_dir, ray_tmp) == []


def test_without_an_intact_copy_the_resume_stops_with_one_line(tmp_path: Path) -> None:
    tune_dir = tmp_path / "run" / "tune"
    _state(tune_dir, ["a"])
    (tune_dir / f"searcher-state-{SESSION}.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(InputError, match=r"searcher-state-.*\.pkl: Tune's record of the search is damaged"):
        tune_state.repair(tune_dir, tmp_path / "no-ray")
    assert (tune_dir / f"searcher-state-{SESSION}.pkl").read_bytes() == b"\x80\x04", "nothing written over"
