"""The planner at scale, checked without a GPU: per-GPU memory and step time of XLM-R large, XL and XXL.

`python -m bench scale_plan [--workers 8] [--batch 32] [--micro 4] [--tokens 128] [--gpu-gb 80]`

For each model under its zoo defaults (ZeRO-2 for large, ZeRO-3 for XL/XXL, bf16) and under the alternatives:
1. Parameters: the zoo's exact counts against the published sizes (XLM-R paper / Goyal et al. 2021: 560M, 3.5B,
   10.7B).
2. Model-state memory per GPU: the planner (raytl/training/memory.py) against DeepSpeed's own estimators
   (`estimate_zero2_model_states_mem_needs`, `estimate_zero3_model_states_mem_needs`, zero_init=True) and the ZeRO
   paper's 16 bytes per parameter for mixed-precision Adam (Rajbhandari et al. 2020, Table 1: 7.5B parameters
   on 64 GPUs need 120 GB without ZeRO, 1.88 GB with stage 3).
3. Total per-GPU estimate (model states + activations + buffers + reserve) against `--gpu-gb`.
4. Step time = training FLOPs of one optimizer step / (workers x peak x MFU). Assumptions, not measurements:
   dense bf16 peaks of 312 TFLOP/s (A100 SXM) and 989 TFLOP/s (H100 SXM); MFU 0.40 on A100 and 0.35 on H100 for
   ZeRO-2 (what well-tuned encoder fine-tuning reaches at these sizes), times 0.85 under ZeRO-3 for its parameter
   all-gathers; CPU offload is not timed (it is bound by PCIe and the CPU's Adam, not by the GPU).

The last line is the figure: the largest planner-vs-DeepSpeed difference and the XXL estimate.
"""

from __future__ import annotations

import argparse
import contextlib
import io

from raytl.models.zoo import ZOO, ModelEntry
from raytl.training.memory import GIB, estimate_memory, model_states_bytes, step_flops
from raytl.training.settings import DeepSpeedSettings

PUBLISHED_PARAMS = {"large": 560e6, "xl": 3.5e9, "xxl": 10.7e9}
PEAK_TFLOPS = {"A100": 312.0, "H100": 989.0}
MFU = {"A100": 0.40, "H100": 0.35}
ZERO3_MFU_FACTOR = 0.85


def deepspeed_estimate(entry: ModelEntry, stage: int, gpus: int, offload: bool) -> int:
    """GPU bytes per GPU from DeepSpeed's own estimator (its import prints accelerator warnings: silenced)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    if stage == 2:
        return estimate_zero2_model_states_mem_needs(entry.params, gpus, 1, cpu_offload=offload)[1]
    return estimate_zero3_model_states_mem_needs(entry.params, entry.largest_layer_params, gpus, 1, offload, offload,
                                                 zero_init=True)[1]


def zero_paper_bytes(params: int, stage: int, gpus: int) -> float:
    """Model states per GPU in the ZeRO paper (Rajbhandari et al. 2020, section 3): 2 bytes of fp16 weights, 2 of
    fp16 gradients and 12 of fp32 optimizer states per parameter; stage 2 splits gradients and states, 3 all."""
    return 16 * params / gpus if stage == 3 else 2 * params + 14 * params / gpus


def _gib(value: float | None) -> str:
    return f"{value / GIB:8.1f}G" if value is not None else "        -"


def step_seconds(entry: ModelEntry, args: argparse.Namespace, gpu: str, stage: int) -> float:
    mfu = MFU[gpu] * (ZERO3_MFU_FACTOR if stage == 3 else 1.0)
    return step_flops(entry, args.batch, args.tokens) / (args.workers * PEAK_TFLOPS[gpu] * 1e12 * mfu)


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--workers", "8"])  # doctest: +SKIP
    """
    args = _parse(argv)
    print(f"{args.workers} GPUs x {args.gpu_gb:g} GiB, batch {args.batch} = micro {args.micro} x {args.workers} "
          f"workers x {args.batch // (args.micro * args.workers)} accumulation, {args.tokens} tokens, bf16")
    print(f"{'model':6} {'params':>8} {'published':>9} {'setup':12} {'planner':>9} {'DeepSpeed':>9} {'ZeRO paper':>9} "
          f"{'total/GPU':>9} {'fits':>4} {'TFLOP/step':>10} {'A100 s':>7} {'H100 s':>7}")
    worst, xxl_line = 0, ""
    for name in ("large", "xl", "xxl"):
        entry = ZOO[name]
        for stage, offload in ((2, "none"), (3, "none"), (3, "cpu")):
            settings = DeepSpeedSettings(stage, offload, "bf16", args.workers, args.micro, entry.hidden_size)
            ours = model_states_bytes(entry, settings)
            theirs = deepspeed_estimate(entry, stage, args.workers, offload != "none")
            worst = max(worst, abs(ours - theirs))
            paper = zero_paper_bytes(entry.params, stage, args.workers) if offload == "none" else None
            total = estimate_memory(entry, settings, args.tokens).total
            timed = offload == "none"
            a100, h100 = (f"{step_seconds(entry, args, gpu, stage):7.3f}" if timed else "      -" for gpu in MFU)
            setup = f"ZeRO-{stage}" + ("" if offload == "none" else "+cpu")
            default = " *" if stage == entry.zero_stage and offload == entry.offload else ""
            print(f"{name:6} {entry.params / 1e9:7.2f}B {PUBLISHED_PARAMS[name] / 1e9:8.2f}B {setup + default:12} "
                  f"{ours / GIB:8.1f}G {theirs / GIB:8.1f}G {_gib(paper)} {total / GIB:8.1f}G "
                  f"{'yes' if total <= args.gpu_gb * GIB else 'NO':>4} "
                  f"{step_flops(entry, args.batch, args.tokens) / 1e12:10.1f} {a100} {h100}")
            if name == "xxl" and default:
                a100, h100 = (step_seconds(entry, args, gpu, 3) for gpu in MFU)
                xxl_line = (f"xxl ZeRO-3 {args.workers}x{args.gpu_gb:g}GiB: {total / GIB:.1f} GiB/GPU, step "
                            f"{a100:.2f} s A100 / {h100:.2f} s H100")
    print("(* = zoo default; ZeRO paper: 2+14/N bytes per parameter (P_os+g), 16/N (P_os+g+p); DeepSpeed's "
          "estimators: 2+18/N (ZeRO-2), 18/N + 4 x largest layer (ZeRO-3))")
    check = [zero_paper_bytes(7_500_000_000, stage, 64) / 1e9 for stage in (2, 3)]
    print(f"ZeRO paper Table 1 (7.5B, 64 GPUs) from the same formula: P_os+g {check[0]:.2f} GB (paper 16.6), "
          f"P_os+g+p {check[1]:.2f} GB (paper 1.88)")
    print(f"scale_plan: planner vs DeepSpeed model states max |diff| = {worst} bytes over 9 setups; {xxl_line}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scale_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="GPUs of one trial (one Ray Train worker each)")
    parser.add_argument("--batch", type=int, default=32, help="effective batch size")
    parser.add_argument("--micro", type=int, default=4, help="micro batch per GPU")
    parser.add_argument("--tokens", type=int, default=128, help="sequence length")
    parser.add_argument("--gpu-gb", type=float, default=80.0, help="memory of one GPU in GiB")
    return parser.parse_args(argv)
