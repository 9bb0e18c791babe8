"""Per-GPU memory and step time of one training phase, estimated without a GPU (and without importing torch).

    model states  DeepSpeed's own estimators (`estimate_zero2_model_states_mem_needs`,
                  `estimate_zero3_model_states_mem_needs`), reimplemented here so `raytl plan` stays light;
                  tests/test_planner.py compares them with DeepSpeed's functions. They assume 16-bit training with
                  fp32 master weights and Adam: per parameter 2 bytes of 16-bit weights plus 18 bytes (16-bit and
                  fp32 gradients, fp32 weights, two Adam moments) split over the GPUs. fp32 training keeps 4-byte
                  weights and 16 bytes (gradients, ZeRO's fp32 partition copy, Adam) split over the GPUs.
                  ZeRO-0/1 (no estimator in DeepSpeed): nothing split / only the 16 optimizer bytes split.
    activations   Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models"), per
                  layer without recomputation: s*b*h*(34 + 5*a*s/h) bytes in 16-bit (doubled in fp32), s tokens,
                  b rows per micro-batch (x choices for multiple choice), h hidden, a heads. The 5*a*s/h term is the
                  stored attention matrix of eager attention; fused (SDPA) kernels store less, so this is an upper
                  bound. Plus the embedding output and its dropout mask.
    buffers       ZeRO's communication buckets as raytl sets them (`DeepSpeedSettings.buckets`), each at most the
                  model's size, in the training precision.
    reserve       2 GiB: CUDA context, NCCL buffers and allocator fragmentation (a rule of thumb, not a measurement).
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.models.zoo import ModelEntry
from raytl.training.settings import DeepSpeedSettings

GIB = 2**30
RESERVE_BYTES = 2 * GIB


def zero2_model_states(params: int, gpus: int, offload: bool, buffer_factor: float = 1.5) -> tuple[int, int]:
    """(CPU bytes, GPU bytes) per GPU: DeepSpeed's `estimate_zero2_model_states_mem_needs`, one node."""
    if offload:
        return int(params * max(4 * gpus, 16) * buffer_factor), 2 * params
    return int(params * 4 * gpus * buffer_factor), 2 * params + int(18 * params / gpus)


def zero3_model_states(
    params: int, largest_layer: int, gpus_per_node: int, nodes: int = 1, offload_optimizer: bool = False,
    offload_params: bool = False, buffer_factor: float = 1.5,
) -> tuple[int, int]:
    """(CPU bytes, GPU bytes) per GPU: DeepSpeed's `estimate_zero3_model_states_mem_needs` with zero_init=True."""
    gpus, per_node = gpus_per_node * nodes, 1 / nodes
    largest = 4 * largest_layer
    if offload_optimizer and offload_params:
        return int(params * 18 * per_node * buffer_factor), largest
    if offload_optimizer:
        return int(params * 16 * per_node * buffer_factor), largest + int(2 * params / gpus)
    return int(largest_layer * 4 * gpus_per_node * buffer_factor), largest + int(18 * params / gpus)


def model_states_bytes(entry: ModelEntry, settings: DeepSpeedSettings) -> int:
    """GPU bytes of weights, gradients and optimizer states per GPU (see the module docstring)."""
    params, gpus = entry.params, settings.world
    offload = settings.offload in ("cpu", "nvme")
    if settings.precision == "fp32":
        if settings.zero_stage == 3:
            return 4 * entry.largest_layer_params + (0 if offload else int(20 * params / gpus))
        full, split = {0: (20, 0), 1: (8, 12)}.get(settings.zero_stage, (4, 16))
        return full * params + (0 if offload and settings.zero_stage == 2 else int(split * params / gpus))
    if settings.zero_stage == 3:
        return zero3_model_states(params, entry.largest_layer_params, gpus, 1, offload, offload)[1]
    if settings.zero_stage == 2:
        return zero2_model_states(params, gpus, offload)[1]
    return 20 * params if settings.zero_stage == 0 else 4 * params + int(16 * params / gpus)


def activation_bytes(entry: ModelEntry, rows: int, tokens: int, precision: str) -> int:
    """Activations kept for the backward pass of one micro-batch (Korthikanti et al. 2022, no recomputation)."""
    s, b, h, a = tokens, rows, entry.hidden_size, entry.heads
    per_layer = s * b * h * (34 + 5 * a * s / h)
    embeddings = 3 * s * b * h  # output (2 bytes) and its dropout mask (1 byte)
    scale = 2 if precision == "fp32" else 1
    return int(scale * (entry.layers * per_layer + embeddings))


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU of one phase; `total` is what must fit."""

    model_states: int
    activations: int
    buffers: int
    reserve: int = RESERVE_BYTES

    @property
    def total(self) -> int:
        return self.model_states + self.activations + self.buffers + self.reserve

    def describe(self) -> str:
        """One line in GiB: total = parts."""
        parts = (self.model_states, self.activations, self.buffers, self.reserve)
        return (f"{self.total / GIB:.1f} GiB = model states {parts[0] / GIB:.1f} + activations {parts[1] / GIB:.1f}"
                f" + buffers {parts[2] / GIB:.1f} + reserve {parts[3] / GIB:.1f}")


def estimate_memory(
    entry: ModelEntry, settings: DeepSpeedSettings, tokens: int, rows_per_example: int = 1
) -> MemoryEstimate:
    """Per-GPU memory of training `entry` with `settings` on micro-batches of `tokens`-long rows.

    >>> from raytl.models.zoo import ZOO
    >>> settings = DeepSpeedSettings(3, "none", "bf16", world=8, micro_batch=4, hidden_size=4096)
    >>> estimate_memory(ZOO["xxl"], settings, tokens=128).describe()
    '32.0 GiB = model states 26.2 + activations 3.7 + buffers 0.1 + reserve 2.0'
    """
    element = 4 if settings.precision == "fp32" else 2
    return MemoryEstimate(
        model_states=model_states_bytes(entry, settings),
        activations=activation_bytes(entry, settings.micro_batch * rows_per_example, tokens, settings.precision),
        buffers=element * sum(min(v, entry.params) for k, v in settings.buckets().items()
                              if k.endswith("bucket_size")),
    )


def step_flops(entry: ModelEntry, batch_rows: int, tokens: int) -> float:
    """Training FLOPs of one optimizer step: 6 x (non-embedding parameters) per token for the matrix products,
    plus attention's scores and weighted sum (12 x layers x hidden x tokens per token, forward and backward)."""
    h, i = entry.hidden_size, entry.intermediate_size
    matmul_params = entry.layers * (4 * h * h + 2 * h * i)
    per_token = 6 * matmul_params + 12 * entry.layers * h * tokens
    return float(per_token * batch_rows * tokens)
