"""Per-GPU memory of every (model, phase) of a search, and the refusal of one that cannot fit its GPUs.

Light (no torch): `raytl plan` and `raytl search` run it at the edge. The estimate itself is documented in
`raytl/training/memory.py`; GPUs are assumed to support bf16 (A100, H100) when a model's default asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import NO_INTERMEDIATE, PhaseConfig, SearchSpace
from raytl.errors import InputError
from raytl.models.zoo import ModelEntry, resolve_model
from raytl.tasks import TASKS
from raytl.training.memory import GIB, MemoryEstimate, estimate_memory
from raytl.training.settings import DeepSpeedSettings, resolve_settings


@dataclass(frozen=True)
class PhaseMemory:
    """One (model, phase) of a search with its resolved DeepSpeed settings and memory estimate."""

    model: str
    phase: str  # "intermediate" or "target <name>"
    tokens: int
    rows_per_example: int  # choices of a multiple-choice task: each is one sequence
    batch_size: int
    settings: DeepSpeedSettings
    estimate: MemoryEstimate

    @property
    def accumulation(self) -> int:
        return self.batch_size // (self.settings.micro_batch * self.settings.world)

    @property
    def rows(self) -> str:
        """Rows of a micro-batch, with the choices of a multiple-choice task: `4x5`."""
        micro = self.settings.micro_batch
        return f"{micro}x{self.rows_per_example}" if self.rows_per_example > 1 else str(micro)

    def line(self) -> str:
        s, rows = self.settings, self.rows
        return (f"{self.model} {self.phase}: ZeRO {s.zero_stage}{'' if s.offload == 'none' else ' + ' + s.offload}"
                f", {s.precision}, micro batch {rows} x {self.tokens} tokens x {s.world} workers x "
                f"{self.accumulation} accumulation = {self.batch_size}: {self.estimate.describe()}")


def entries(space: SearchSpace) -> dict[str, ModelEntry]:
    """Every searched model's zoo entry; a hub model that cannot be read is an InputError."""
    out = {}
    for name in space.models:
        try:
            out[name] = resolve_model(name, name in space.trust_remote_code)
        except (OSError, ValueError, KeyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"models: cannot read hub model '{name}': {reason}") from None
    return out


def memory_rows(space: SearchSpace) -> list[PhaseMemory]:
    """Per model: the intermediate phase (if any task trains one) and every target phase."""
    phases: list[tuple[str, PhaseConfig, list[str]]] = []
    intermediates = [task for name in space.intermediate_tasks if name != NO_INTERMEDIATE
                     for task in (space.mixtures[name].tasks if name in space.mixtures else [name])]
    if intermediates:
        phases.append(("intermediate", space.intermediate, intermediates))
    phases += [(f"target {t}", space.target_phase(t), [t]) for t in space.targets]
    res = space.resources
    on_gpu = res.gpus_per_worker > 0 or res.gpu_memory_gb is not None
    rows = []
    for name, entry in entries(space).items():
        for label, phase, tasks in phases:
            settings = resolve_settings(space.deepspeed, entry, res.num_workers, phase.batch_size,
                                        phase.micro_batch_size, on_gpu=on_gpu)
            choices = max(_rows_per_example(task) for task in tasks)
            estimate = estimate_memory(entry, settings, phase.max_length, choices)
            rows.append(PhaseMemory(name, label, phase.max_length, choices, phase.batch_size, settings, estimate))
    return rows


def gpu_bytes(space: SearchSpace) -> int | None:
    """Memory one Ray Train worker may use on its GPU (a fraction of it when workers share GPUs)."""
    res = space.resources
    if res.gpu_memory_gb is None:
        return None
    share = min(res.gpus_per_worker, 1.0) if res.gpus_per_worker > 0 else 1.0
    return int(res.gpu_memory_gb * share * GIB)


def check_fits(space: SearchSpace, source: str) -> list[PhaseMemory]:
    """The memory rows, or a one-line InputError naming the first (model, phase) that does not fit."""
    rows, available = memory_rows(space), gpu_bytes(space)
    for row in rows if available is not None else []:
        if row.estimate.total > available:
            raise InputError(
                f"{source}: resources.gpu_memory_gb: {row.model} {row.phase} needs ~{row.estimate.total / GIB:.1f} GiB"
                f" per GPU (ZeRO {row.settings.zero_stage}, micro batch {row.rows} x {row.tokens} "
                f"tokens) but has {available / GIB:.1f}; allowed: {_remedies(row.settings)}"
            )
    return rows


def _remedies(settings: DeepSpeedSettings) -> str:
    options = ["a smaller micro_batch_size", "more workers"]
    options += ["deepspeed.zero_stage: 3"] if settings.zero_stage < 3 else []
    options += ["deepspeed.offload: cpu"] if settings.offload == "none" else []
    return ", ".join(options) + ", or bigger GPUs"


def _rows_per_example(task: str) -> int:
    entry = TASKS[task]
    return len(entry.labels) if entry.format == "multiple_choice" else 1
