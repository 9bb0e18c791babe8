"""The planner: DeepSpeed's memory estimators reimplemented exactly, per-phase estimates in `raytl plan`, and a
one-line refusal (exit 2) of a configuration that cannot fit its GPUs."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.models.zoo import ZOO
from raytl.search.memory_plan import check_fits, memory_rows
from raytl.training.memory import GIB, activation_bytes, estimate_memory, zero2_model_states, zero3_model_states
from raytl.training.settings import DeepSpeedSettings
from tests.conftest import tiny_space, write_space

SIZES = [ZOO[name].params for name in ("base", "large", "xl", "xxl")] + [12_345]


def test_zero2_formula_is_deepspeeds() -> None:
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    for params, gpus, offload in itertools.product(SIZES, (1, 2, 8, 64), (False, True)):
        assert zero2_model_states(params, gpus, offload) == estimate_zero2_model_states_mem_needs(
            params, num_gpus_per_node=gpus, num_nodes=1, cpu_offload=offload)


def test_zero3_formula_is_deepspeeds() -> None:
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    for name, gpus, nodes in itertools.product(("base", "xl", "xxl"), (1, 8), (1, 4)):
        entry = ZOO[name]
        for optimizer, params in ((False, False), (True, False), (True, True)):
            ours = zero3_model_states(entry.params, entry.largest_layer_params, gpus, nodes, optimizer, params)
            cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
                entry.params, entry.largest_layer_params, num_gpus_per_node=gpus, num_nodes=nodes,
                cpu_offload=optimizer, cpu_offload_params=params, zero_init=True)
            assert ours == (cpu, gpu)


def test_largest_layer_is_the_embedding_matrix_of_xlmr() -> None:
    assert ZOO["xxl"].largest_layer_params == 250_880 * 4096


def test_estimates_grow_with_what_they_should() -> None:
    xxl = ZOO["xxl"]
    short, long = activation_bytes(xxl, 4, 128, "bf16"), activation_bytes(xxl, 4, 384, "bf16")
    assert long > 3 * short  # the attention term grows with tokens squared
    assert activation_bytes(xxl, 4, 128, "fp32") == 2 * short
    zero2 = estimate_memory(xxl, DeepSpeedSettings(2, "none", "bf16", 8, 4, hidden_size=4096), 128)
    zero3 = estimate_memory(xxl, DeepSpeedSettings(3, "none", "bf16", 8, 4, hidden_size=4096), 128)
    offload = estimate_memory(xxl, DeepSpeedSettings(3, "cpu", "bf16", 8, 4, hidden_size=4096), 128)
    assert zero2.model_states > zero3.model_states > offload.model_states == 4 * xxl.largest_layer_params
    more_gpus = estimate_memory(xxl, DeepSpeedSettings(3, "none", "bf16", 64, 4, hidden_size=4096), 128)
    assert more_gpus.model_states < zero3.model_states


def _space(tmp_path: Path, models: list[str], workers: int, gpu_gb: float | None, **deepspeed: object) -> dict:
    space = tiny_space(tmp_path / "runs", models=models, deepspeed=deepspeed,
                       resources={"num_workers": workers, "gpus_per_worker": 1, "gpu_memory_gb": gpu_gb})
    space["search"] = {"num_trials": 1}
    space["target"]["batch_size"] = space["intermediate"]["batch_size"] = 32
    return space


def test_rows_cover_every_model_and_phase(tmp_path: Path) -> None:
    space = parse_space(_space(tmp_path, ["large", "xxl"], 8, 80.0), models=list(ZOO))
    rows = memory_rows(space)
    assert [(row.model, row.phase) for row in rows] == [
        ("large", "intermediate"), ("large", "target xnli"), ("xxl", "intermediate"), ("xxl", "target xnli")]
    xxl = rows[-1]
    assert (xxl.settings.zero_stage, xxl.settings.precision, xxl.settings.micro_batch, xxl.accumulation) == (
        3, "bf16", 4, 1)
    assert xxl.estimate.total < 80 * GIB and "xxl target xnli: ZeRO 3, bf16" in xxl.line()


def test_multiple_choice_counts_every_choice(tmp_path: Path) -> None:
    space = _space(tmp_path, ["large"], 8, 80.0)
    space["intermediate_tasks"] = ["hellaswag"]
    (row, *_) = memory_rows(parse_space(space, models=list(ZOO)))
    assert row.rows_per_example == 4 and "micro batch 4x4" in row.line()


def test_refuses_what_cannot_fit(tmp_path: Path) -> None:
    space = parse_space(_space(tmp_path, ["xxl"], 2, 40.0, zero_stage=2), models=list(ZOO))
    with pytest.raises(InputError, match=r"^s.yaml: resources.gpu_memory_gb: xxl intermediate needs ~1\d\d\.\d GiB"):
        check_fits(space, "s.yaml")
    assert check_fits(parse_space(_space(tmp_path, ["xxl"], 2, None, zero_stage=2), models=list(ZOO)), "s")


def test_cli_refuses_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write_space(tmp_path / "big.yaml", _space(tmp_path, ["xxl"], 2, 40.0, zero_stage=2))
    done = subprocess.run([sys.executable, "-m", "raytl", "plan", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "resources.gpu_memory_gb: xxl intermediate needs" in lines[0], done.stderr
    fits = write_space(tmp_path / "ok.yaml", _space(tmp_path, ["xxl"], 8, 80.0))
    done = subprocess.run([sys.executable, "-m", "raytl", "plan", str(fits)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "estimated memory per GPU (80.0 GiB per worker" in done.stdout
    assert "xxl target xnli: ZeRO 3, bf16, micro batch 4 x 48 tokens x 8 workers x 1 accumulation = 32" in done.stdout


def test_scale_plan_benchmark_matches_deepspeed(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))  # bench/ is not installed
    from bench.scale_plan import main

    main(["--workers", "8"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("scale_plan: planner vs DeepSpeed model states max |diff| = 0 bytes over 9 setups; xxl")
