"""What identifies a trial's point and an intermediate encoder. Light (no torch): housekeeping, `raytl store` and
tests use it without loading models."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from raytl.config import SearchSpace
from raytl.models.zoo import resolve_model

PHASE_CODE_VERSION = 1  # bump when a change alters what an intermediate phase produces


@dataclass(frozen=True)
class TrialParams:
    """One point of the search: what Optuna proposed for a trial."""

    model: str
    intermediate: str
    lr_intermediate: float
    lr_target: float
    seed: int = 0


def intermediate_phase_id(space: SearchSpace, params: TrialParams) -> str:
    """Everything that determines an intermediate encoder, hashed: trials that agree on it share one training."""
    phase = space.intermediate.model_dump(mode="json", exclude={"lr", "eval_every", "checkpoint_minutes"})
    identity = {
        "code": PHASE_CODE_VERSION,
        "model": asdict(resolve_model(params.model, params.model in space.trust_remote_code)),
        "task": params.intermediate,
        "mixture": space.mixtures[params.intermediate].model_dump() if params.intermediate in space.mixtures else None,
        "lr": params.lr_intermediate,
        "seed": params.seed,
        "phase": phase,
        "data": space.data.model_dump(mode="json"),
        "deepspeed": space.deepspeed.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
