"""Resolved DeepSpeed settings of a phase, from the search space and the model entry. Light (no torch, no
DeepSpeed), so `raytl plan` shares it with the engine: what the planner estimates is what the engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import DeepSpeedConfig
from raytl.models.zoo import ModelEntry

ZERO2_BUCKET = 200_000_000  # elements; DeepSpeed's default 5e8 costs 2 GB of buffers in bf16


@dataclass(frozen=True)
class DeepSpeedSettings:
    """Resolved settings (no `auto` left): what `deepspeed_config` needs besides the phase."""

    zero_stage: int
    offload: str
    precision: str
    world: int
    micro_batch: int
    nvme_path: str | None = None  # where offload: nvme swaps to (a fast local disk on every node)
    hidden_size: int = 0  # sizes ZeRO's communication buckets (Hugging Face's recipe); 0 keeps DeepSpeed's defaults

    def buckets(self) -> dict[str, int]:
        """ZeRO's communication buffer sizes (elements) this configuration sets.

        >>> DeepSpeedSettings(3, "none", "bf16", 8, 4, hidden_size=1024).buckets()["reduce_bucket_size"]
        1048576
        """
        hidden = self.hidden_size
        if self.zero_stage == 3 and hidden:
            # Hugging Face's "auto" values: buckets of one hidden x hidden matrix; small params stay on every rank
            return {"reduce_bucket_size": hidden * hidden, "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
                    "stage3_param_persistence_threshold": 10 * hidden}
        if self.zero_stage in (1, 2):
            return {"reduce_bucket_size": ZERO2_BUCKET, "allgather_bucket_size": ZERO2_BUCKET}
        return {}


def resolve_settings(
    requested: DeepSpeedConfig, entry: ModelEntry, world: int, batch_size: int, micro_batch: int | None, *,
    on_gpu: bool, bf16_supported: bool = True,
) -> DeepSpeedSettings:
    """`auto` -> the zoo entry's defaults; bf16 only where the GPU supports it (else fp16); fp32 on CPU.

    >>> from raytl.models.zoo import ZOO
    >>> gpu = resolve_settings(DeepSpeedConfig(), ZOO["xl"], 8, 32, 2, on_gpu=True)
    >>> gpu.zero_stage, gpu.precision, gpu.micro_batch
    (3, 'bf16', 2)
    >>> resolve_settings(DeepSpeedConfig(), ZOO["xl"], 8, 32, 2, on_gpu=True, bf16_supported=False).precision
    'fp16'
    >>> resolve_settings(DeepSpeedConfig(), ZOO["xl"], 8, 32, None, on_gpu=False).precision
    'fp32'
    """
    precision = entry.precision if requested.precision == "auto" else requested.precision
    if on_gpu and precision == "bf16" and not bf16_supported:
        if requested.precision == "bf16":
            raise ValueError("deepspeed.precision: bf16 is not supported by this GPU; allowed: fp16, fp32, auto")
        precision = "fp16"
    return DeepSpeedSettings(
        zero_stage=entry.zero_stage if requested.zero_stage == "auto" else int(requested.zero_stage),
        offload=entry.offload if requested.offload == "auto" else requested.offload,
        precision=precision if on_gpu else "fp32",
        world=world,
        micro_batch=micro_batch or batch_size // world,
        nvme_path=str(requested.nvme_path) if requested.nvme_path else None,
        hidden_size=entry.hidden_size,
    )


def batch_config(batch_size: int, micro_batch: int, world: int) -> dict[str, int]:
    """effective batch = micro batch x workers x accumulation; a clear error when it does not divide.

    >>> batch_config(32, 2, 4)["gradient_accumulation_steps"]
    4
    """
    per_step = micro_batch * world
    if micro_batch < 1 or batch_size % per_step:
        raise ValueError(f"batch_size {batch_size} is not a multiple of micro_batch_size {micro_batch} x "
                         f"{world} workers = {per_step}")
    return {"train_batch_size": batch_size, "train_micro_batch_size_per_gpu": micro_batch,
            "gradient_accumulation_steps": batch_size // per_step}
