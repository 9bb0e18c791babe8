"""DeepSpeed: the config a phase needs, the engine around a model and its checkpoints.

Nothing outside this module and `distributed` (process groups, ranks) names DeepSpeed or torch.distributed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import deepspeed
import torch
import torch.distributed as dist

from raytl.config import DeepSpeedConfig
from raytl.models.zoo import ModelEntry
from raytl.tasks.formats.base import Batch
from raytl.training.checkpoint_files import write_checksums
from raytl.training.settings import DeepSpeedSettings, batch_config, resolve_settings

CHECKPOINT_TAG = "state"  # DeepSpeed itself writes a file named "latest"


def gpu_settings(
    requested: DeepSpeedConfig, entry: ModelEntry, world: int, batch_size: int, micro_batch: int | None
) -> DeepSpeedSettings:
    """`resolve_settings` for this process's device: bf16 where `torch.cuda.is_bf16_supported()`, fp32 on CPU."""
    on_gpu = torch.cuda.is_available()
    return resolve_settings(requested, entry, world, batch_size, micro_batch, on_gpu=on_gpu,
                            bf16_supported=on_gpu and torch.cuda.is_bf16_supported())


def deepspeed_config(
    settings: DeepSpeedSettings, batch_size: int, lr: float, total_steps: int, warmup_steps: int, grad_clip: float
) -> dict[str, Any]:
    """The DeepSpeed JSON for one phase: effective batch = micro batch x workers x accumulation, stated once."""
    return {
        **batch_config(batch_size, settings.micro_batch, settings.world),
        "gradient_clipping": grad_clip,
        # torch_adam: DeepSpeed's fused Adam would need a compiler toolchain on every node
        "optimizer": {"type": "AdamW", "params": {"lr": lr, "eps": 1e-8, "torch_adam": True}},
        "scheduler": {
            "type": "WarmupDecayLR",
            "params": {
                "total_num_steps": max(total_steps, warmup_steps + 2),
                "warmup_num_steps": max(1, warmup_steps),  # DeepSpeed rejects 0
                "warmup_min_lr": 0.0,
                "warmup_max_lr": lr,
                "warmup_type": "linear",
            },
        },
        "zero_optimization": zero_config(settings),
        "bf16": {"enabled": settings.precision == "bf16"},
        "fp16": {"enabled": settings.precision == "fp16"},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def zero_config(settings: DeepSpeedSettings) -> dict[str, Any]:
    """ZeRO stage, offload (CPU or NVMe, optimizer states; under ZeRO-3 parameters too) and bucket sizes."""
    zero: dict[str, Any] = {"stage": settings.zero_stage}
    if settings.offload in ("cpu", "nvme") and settings.zero_stage >= 2:
        device: dict[str, Any] = {"device": settings.offload}
        if settings.offload == "nvme":
            if not settings.nvme_path:
                raise ValueError("deepspeed.offload: nvme needs deepspeed.nvme_path (a fast local disk)")
            device["nvme_path"] = settings.nvme_path
        zero["offload_optimizer"] = device
        if settings.zero_stage == 3:
            zero["offload_param"] = dict(device)
    zero.update(settings.buckets())
    return zero


@contextlib.contextmanager
def model_construction(config: dict[str, Any]) -> Iterator[None]:
    """Build models inside this block: under ZeRO-3 they come out partitioned across the ranks, never whole on one.

    Hugging Face models see the config through `HfDeepSpeedConfig` (transformers keeps only a weak reference, so it
    is held here for the whole block): `from_pretrained` and `_from_config` then enter `deepspeed.zero.Init` and
    load or initialise each weight into its partition. The worker builds its model as
    `with model_construction(config): model = TaskModel(build_encoder(entry, tokenizer, seed), head)`.
    """
    if config["zero_optimization"]["stage"] != 3:
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig

    deepspeed.init_distributed()  # zero.Init reads the world size from DeepSpeed's comm (reuses torch's group)
    keep_alive = HfDeepSpeedConfig(config)
    try:
        yield
    finally:
        del keep_alive


def is_partitioned(module: torch.nn.Module) -> bool:
    """Whether every parameter of `module` is a ZeRO-3 partition (built under `model_construction`)."""
    return all(hasattr(param, "ds_id") for param in module.parameters())


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and LayerNorm weights (the usual BERT recipe)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _cast_unpartitioned(model: torch.nn.Module, config: dict[str, Any]) -> None:
    """Under ZeRO-3, modules built outside `model_construction` (task heads) to the training precision, as the
    encoder built inside it already is: DeepSpeed casts only models that zero.Init did not build, and fails on the
    mixed dtypes otherwise."""
    dtype = torch.bfloat16 if config["bf16"]["enabled"] else torch.float16 if config["fp16"]["enabled"] else None
    if dtype is None:
        return
    for param in model.parameters():
        if not hasattr(param, "ds_id") and param.is_floating_point():
            param.data = param.data.to(dtype)


@contextlib.contextmanager
def _no_compile_at_import() -> Iterator[None]:
    """ZeRO's optimizers import DeepSpeed's Muon module, which decorates a function with `torch.compile` at import:
    that imports Dynamo and Inductor, about 1 s of every trial's start (2 s on a loaded machine). raytl's optimizer
    is always AdamW, so that function never runs: while the engine is built, DeepSpeed's `compiler.compile()`
    returns the identity decorator instead."""
    from deepspeed.runtime import compiler

    original = compiler.compile
    compiler.compile = lambda: compiler.dummy_decorator
    try:
        yield
    finally:
        compiler.compile = original


class Engine:
    """A model under DeepSpeed: train steps, inference, checkpoints, and a consolidated state dict."""

    def __init__(self, model: torch.nn.Module, config: dict[str, Any], weight_decay: float) -> None:
        self.zero_stage = config["zero_optimization"]["stage"]
        if self.zero_stage == 3:
            _cast_unpartitioned(model, config)
        with _no_compile_at_import():
            self.ds, *_ = deepspeed.initialize(
                model=model, model_parameters=parameter_groups(model, weight_decay), config=config
            )
        self.device = self.ds.device

    def train_step(self, micro_batches: list[Batch], loss_fn: Callable[[torch.Tensor, Batch], torch.Tensor]) -> float:
        """One optimizer step over this rank's micro-batches; returns the loss averaged over all ranks."""
        self.ds.train()
        total = torch.zeros((), device=self.device)
        for batch in micro_batches:
            batch = {key: value.to(self.device) for key, value in batch.items()}
            loss = loss_fn(self.ds(batch), batch)
            self.ds.backward(loss)
            self.ds.step()
            total += loss.detach().float()
        total /= len(micro_batches)
        if dist.is_initialized():
            dist.all_reduce(total)
            total /= dist.get_world_size()
        return float(total)

    @torch.no_grad()
    def predict(self, batch: Batch) -> torch.Tensor:
        self.ds.eval()
        return self.ds({key: value.to(self.device) for key, value in batch.items()}).float().cpu()

    @property
    def model(self) -> torch.nn.Module:
        """The model the engine trains (a `TaskModel`), e.g. to select a mixture head."""
        return self.ds.module

    def save(self, directory: Path, selected: list[torch.Tensor] | None = None,
             files: dict[str, str] | None = None) -> None:
        """A checkpoint a phase resumes from exactly: every rank's DeepSpeed shard and random state (dropout
        masks), its share of the `selected` weights (a `snapshot`) if any, and `files` (name -> text, written by
        rank 0, e.g. the trial's progress). Collective."""
        self.ds.save_checkpoint(str(directory), tag=CHECKPOINT_TAG, client_state={})
        rank = _rank()
        state = {"cpu": torch.get_rng_state(), **({"cuda": torch.cuda.get_rng_state()} if torch.cuda.is_available()
                                                  else {})}
        torch.save(state, directory / f"rng-rank{rank}.pt")
        if selected is not None:
            torch.save(selected, directory / f"selected-rank{rank}.pt")
        if rank == 0:
            for name, text in (files or {}).items():
                (directory / name).write_text(text)
        write_checksums(directory, rank)  # last: a resume trusts only a checkpoint whose files all match

    def load(self, directory: Path) -> list[torch.Tensor] | None:
        """Restore a `save`d checkpoint (weights, optimizer, schedule, random state); returns this rank's share of
        the selected weights saved with it, if any."""
        _, client_state = self.ds.load_checkpoint(str(directory), tag=CHECKPOINT_TAG)
        if client_state is None:
            raise RuntimeError(f"no DeepSpeed checkpoint in {directory}")
        rank = _rank()
        rng = directory / f"rng-rank{rank}.pt"
        if rng.is_file():  # a checkpoint written before random states were saved has none
            state = torch.load(rng, weights_only=True)
            torch.set_rng_state(state["cpu"])
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state(state["cuda"])
        selected = directory / f"selected-rank{rank}.pt"
        return torch.load(selected, weights_only=True) if selected.is_file() else None

    def submodule_writer(self, name: str) -> Callable[[Path], None]:
        """A function that writes submodule `name` (e.g. `encoder`) as a Hugging Face model directory. Collective:
        every rank calls this (the weights are gathered under ZeRO-3); the main rank calls what it returns."""
        state, module = self.state_dict_of(name), getattr(self.ds.module, name)
        return lambda directory: module.save_pretrained(directory, state_dict=state)

    def snapshot(self) -> list[torch.Tensor]:
        """A CPU copy of this rank's share of the weights, without communication: its partition under ZeRO-3 (so
        1/world of the model per rank), the whole module otherwise. What `restore` puts back."""
        return [_local(param).detach().to("cpu", copy=True) for param in self.ds.module.parameters()]

    @torch.no_grad()
    def restore(self, snapshot: list[torch.Tensor]) -> None:
        """Put a `snapshot` of this engine's weights back (every rank its own share), e.g. the dev-selected
        checkpoint's weights before scoring test. Optimizer states are not touched: train no further after it."""
        params = list(self.ds.module.parameters())
        if len(params) != len(snapshot):
            raise RuntimeError(f"snapshot of {len(snapshot)} tensors for a model of {len(params)} parameters")
        for param, saved in zip(params, snapshot, strict=True):
            _local(param).copy_(saved)

    def state_dict_of(self, submodule: str) -> dict[str, torch.Tensor]:
        """A full CPU copy of one submodule's weights, gathered from all ranks under ZeRO-3 (collective)."""
        module = getattr(self.ds.module, submodule)
        gather = (
            deepspeed.zero.GatheredParameters(list(module.parameters()))
            if self.zero_stage == 3
            else contextlib.nullcontext()
        )
        with gather:
            return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


def _local(param: torch.Tensor) -> torch.Tensor:
    """The part of a parameter this rank holds: its ZeRO-3 partition, or the parameter itself."""
    return param.ds_tensor if hasattr(param, "ds_tensor") else param.data


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0
