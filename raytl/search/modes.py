"""Which runner a search space asks for: one joint study, or one study per target (`search.mode`)."""

from __future__ import annotations

import pandas as pd

from raytl.config import SearchSpace
from raytl.pipeline.run_dir import RunDir
from raytl.search.per_target import run_per_target
from raytl.search.tuner import resume_joint_study, run_joint_study


def start_search(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Start a search: `raytl search SPACE.yaml`."""
    return run_per_target(space, run) if space.search.mode == "per_target" else run_joint_study(space, run)


def continue_search(space: SearchSpace, run: RunDir) -> pd.DataFrame:
    """Continue a search: `raytl resume RUN_DIR` (per-target: finished targets kept, the rest resumed or started)."""
    return run_per_target(space, run) if space.search.mode == "per_target" else resume_joint_study(space, run)
