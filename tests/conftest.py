"""Shared fixtures: a tiny search space in the real YAML layout, and one Ray session per test module."""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Token authentication, as Ray >= 2.59 turns on for every local cluster anyway, made explicit before anything
# imports Ray: Ray reads RAY_AUTH_MODE once, at import, and a driver joining a cluster that `ray start` began
# (tests/test_autoscaling.py) sends its token (~/.ray/auth_token) only when the mode was set then.
os.environ.setdefault("RAY_AUTH_MODE", "token")


def tiny_space(storage: Path, **overrides: Any) -> dict[str, Any]:
    """A search space that trains in seconds: tiny model, generated data, few steps."""
    phase = {"lr": {"low": 1e-3, "high": 3e-3}, "max_steps": 8, "batch_size": 16, "max_length": 48, "eval_every": 4}
    space: dict[str, Any] = {
        "name": "t",
        "storage": str(storage),
        "models": ["tiny"],
        "intermediate_tasks": ["none", "mnli"],
        "targets": ["xnli"],
        "intermediate": phase,
        "target": copy.deepcopy(phase),
        "data": {"source": "generated", "generated_train_size": 256, "generated_eval_size": 48},
        "resources": {"num_workers": 2, "cpus_per_worker": 1},
        "deepspeed": {"zero_stage": 2},
        "search": {"num_trials": 2, "max_failures": 0, "points_to_evaluate": [
            {"model": "tiny", "intermediate": "none", "lr_target": 2e-3},
            {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 2e-3, "lr_target": 2e-3},
        ]},
        "scheduler": {"type": "none"},
    }
    space.update(overrides)
    return space


def write_space(path: Path, space: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(space))
    return path


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    return write_space(tmp_path / "space.yaml", tiny_space(tmp_path / "runs"))


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One Ray per test module, for modules that run searches in this process (opt in with
    `pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]`).

    The fixture starts no Ray itself: the module's first search does, through `raytl.search.tuner.start_ray`, the
    way `raytl search` does (its `trial_driver` resource, its dashboard on localhost), and later searches in the
    module join it. The fixture makes sure the module starts with no Ray left by another (which `start_ray` would
    join as it is) and leaves none behind."""
    import ray  # here, not at the top: the fast tests never pay for importing Ray

    ray.shutdown()
    yield
    ray.shutdown()


def scramble_tests(root: Path, seed: int = 7) -> None:
    """Replace every test value (task scores, per-language metrics) with noise; dev untouched."""
    rng = random.Random(seed)
    for path in sorted(root.glob("**/summary.json")):
        data = json.loads(path.read_text())
        for result in data["targets"].values():
            result["score"] = rng.uniform(0, 100)
            result["languages"] = {lang: {m: rng.uniform(0, 100) for m in metrics}
                                   for lang, metrics in result["languages"].items()}
        path.write_text(json.dumps(data))
