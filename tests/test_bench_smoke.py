"""The benchmarks (bench/) run end to end at toy sizes (no timing assertions).

The ones that start Ray run as subprocesses (`python -m bench NAME`), so each gets its own Ray and leaves none;
search_efficiency runs in this process and shuts its Ray down.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ sits beside raytl/ and is not installed


def _bench(*argv: str, timeout: float) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout.strip().splitlines()


# --- retrieval and the runner

def test_retrieval_benchmark_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.retrieval import main

    main(["--n", "300", "--dim", "32", "--repeats", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"retrieval: \d+\.\d\d \(target <= 1\.2.*pairs identical: True\)", lines[-1])


def test_runner_dispatches_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import benchmark_names, main

    assert "retrieval" in benchmark_names()
    main(["retrieval", "--n", "200", "--dim", "16", "--repeats", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("retrieval: ")
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'"):
        main(["nope"])


# --- search efficiency and the preprocessing cache

def test_preprocess_cache_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.preprocess_cache import main

    main(["--rows", "300", "--repeats", "1", "--max-length", "48"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"preprocess_cache: \d+\.\d{4} \(target <= 0\.05;.* 300 xnli train rows .*rows identical: "
                        r"True\)", lines[-1])
    assert re.match(r"repeat 0: 300 rows, [\d,]+ tokens; first trial", lines[-2])


def test_planted_table_plants_one_best_task_per_target() -> None:
    from bench.search_efficiency import _parse, planted_table

    args = _parse(["--margin", "2"])
    table, planted = planted_table(3, ["xnli", "udpos"], args.intermediates, args)
    for target, best in planted.items():
        scores = {task: table.cell("large", task, target).score for task in args.intermediates}
        runner_up = max(score for task, score in scores.items() if task != best)
        assert scores[best] == pytest.approx(runner_up + 2)
        assert table.best_intermediate(target, args.models, args.intermediates) == best
    assert planted_table(3, ["xnli", "udpos"], args.intermediates, args) == (table, planted), "seeded"


def test_curve_models_share_the_scores_and_differ_in_the_curves() -> None:
    from bench.search_efficiency import _parse, planted_table

    shared_args, independent_args = _parse([]), _parse(["--curves", "independent"])
    assert shared_args.curves == "shared" and shared_args.models == ["large", "base"], "the defaults"
    targets = ["xnli", "udpos"]
    shared, planted = planted_table(1, targets, shared_args.intermediates, shared_args)
    independent, same_planted = planted_table(1, targets, independent_args.intermediates, independent_args)
    assert planted == same_planted
    assert {k: c.score for k, c in shared.cells.items()} == {k: c.score for k, c in independent.cells.items()}
    for model in shared_args.models:
        for target in targets:
            taus = [shared.cell(model, task, target).tau for task in shared_args.intermediates]
            gaps = [shared.cell(model, task, target).gap for task in shared_args.intermediates]
            assert max(taus) / min(taus) < 2.5, "one time constant per (model, target), jittered ~15%"
            assert max(gaps) - min(gaps) < 15.0, "one gap per (model, target), jittered ~2 points"
    assert shared != independent


def test_prior_recall_grows_with_k_and_matches_the_copula() -> None:
    from bench._planted_tables import prior_recall
    from bench.search_efficiency import _parse

    recall = prior_recall(_parse([]))
    assert len(recall) == 12 and recall == sorted(recall) and recall[-1] == 1.0
    assert 0.87 < recall[4] < 0.91, "Spearman 0.6 keeps the best of 12 tasks in its top 5 ~89% of the time"
    assert recall[5] < 0.95 <= recall[6], "so the benchmark's default top_k (recall >= 0.95) is 7"
    assert prior_recall(_parse(["--prior-rho", "0.9"]), draws=4000)[0] > recall[0] + 0.2, "a better prior ranks higher"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_search_efficiency_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    from bench.search_efficiency import main

    try:
        main(["--seeds", "1", "--models", "base,large", "--intermediates", "none,mnli,qqp", "--targets", "xnli",
              "--num-trials", "2", "--intermediate-steps", "20", "--target-steps", "40", "--eval-every", "10",
              "--top-k", "1"])
    finally:
        ray.shutdown()
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"search_efficiency: (\d+\.\d{3}|inf) \(target <= 0\.2; .* median of 1 seeds; shared "
                        r"curves; first pass: synchronous halving, ladder carry_k 2, 2 finalists; asha rf 2 grace 2, "
                        r"per_target, 2 trials per study, 4 at once\) with prior: (\d+\.\d{3}|inf) \(target <= 0\.1 "
                        r"at prior Spearman 0\.6, top_k 1\); in FLOPs: (\d+\.\d{3}|inf), with prior (\d+\.\d{3}|inf)",
                        lines[-1])
    assert any(line.startswith("  prior: mean Spearman with the true gains") for line in lines)
    assert any(line.startswith("curves: shared (per model x target gap") for line in lines)
    assert any(re.match(r"  seed 0: found at ", line) for line in lines)


# --- trial start-up

@pytest.mark.slow
@pytest.mark.timeout(300)
def test_startup_benchmark_prints_its_figure_last() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "startup", "--repeats", "1", "--train-size", "128",
                           "--no-warmup", "--no-breakdown", "--workers", "1"], cwd=REPO, capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"startup: \d+\.\d{2} \(target <= 1\.3; warm raytl trial .* median \[min\] of 1 per-repeat "
                        r"ratios; cold cache \d+\.\d{2} \[min \d+\.\d{2}\]; seconds: bare .*\)", lines[-1])
    assert any(line.startswith("repeat 0: seconds from trial start to first step: bare ") for line in lines)


def test_first_step_is_stamped_once_and_reaches_the_summary_fields(tmp_path: Path) -> None:
    """`fit` calls `on_step` after every step; the trial record keeps the first and turns it into summary fields."""
    import time

    from raytl.config import parse_space
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.progress import TrialRecord
    from raytl.pipeline.run_dir import RunDir
    from raytl.training.distributed import Ranks
    from raytl.training.loop import fit
    from tests.conftest import tiny_space

    class Steps:
        def train_step(self, micro_batches: list, loss_fn: object) -> float:
            time.sleep(0.01)
            return 1.0

    trial = TrialContext(parse_space(tiny_space(tmp_path)), TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1),
                         RunDir(tmp_path / "run"), "t0")
    record = TrialRecord(trial, send=lambda metrics, checkpoint: None, checkpoint=None)
    assert record.startup() == {"worker_started_at": record.started}
    fit(Steps(), iter([[{}]] * 3), lambda logits, batch: logits, start_step=0, total_steps=3, eval_every=3,
        on_evaluation=lambda step, loss: None, on_step=record.first_step)
    times = record.startup()
    assert record.started < times["first_step_at"] < time.time() - 0.015  # the first of three steps, not the last
    assert times["first_step_s"] == round(times["first_step_at"] - record.started, 3)


# --- training: loop_overhead, padding, phase_reuse

def test_runner_knows_the_training_benchmarks() -> None:
    from bench.__main__ import benchmark_names

    assert {"loop_overhead", "padding", "phase_reuse"} <= set(benchmark_names())
    assert "_training" not in benchmark_names()


def test_xnli_like_lengths_have_the_documented_shape() -> None:
    from bench.padding import xnli_like_lengths

    lengths = xnli_like_lengths(20000, 128, seed=0)
    assert 45 <= lengths.mean() <= 56 and lengths.max() == 128 and lengths.min() >= 6
    assert 0.002 < np.mean(lengths == 128) < 0.05  # a tail past max length, truncated


def test_padding_counts_real_and_padded_tokens() -> None:
    import torch

    from bench.padding import efficiency, to_max_length

    batch = {"input_ids": torch.tensor([[0, 7, 2], [0, 2, 1]]), "labels": torch.tensor([0, 1])}
    assert efficiency(iter([batch]), pad_id=1) == 5 / 6
    assert efficiency(iter([to_max_length(batch, 6, pad_id=1)]), pad_id=1) == 5 / 12


def test_padding_benchmark_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.padding import main

    main(["--rows", "400", "--batch", "16", "--world", "2", "--train-rows", "32", "--repeats", "1", "--model", "tiny"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"padding: \d\.\d{3} \(target >= 0\.9; fixed 128-token padding 0\.\d{3}; .*x\]\)", last)


@pytest.mark.slow
def test_loop_overhead_benchmark_runs_every_loop() -> None:
    pytest.importorskip("accelerate", reason="Hugging Face Trainer needs accelerate")
    lines = _bench("loop_overhead", "--model", "tiny", "--steps", "2", "--warmup", "1", "--repeats", "1",
                   "--length", "16", timeout=900)
    assert re.fullmatch(r"loop_overhead: \d+\.\d{3} \(target >= 0\.95 .*raytl-zero2 .*\)", lines[-1])


@pytest.mark.slow
def test_phase_reuse_builds_each_intermediate_once_across_interrupt_and_resume() -> None:
    lines = _bench("phase_reuse", "--intermediates", "mnli", "--target-lrs", "2e-3,3e-3", "--targets", "xnli",
                   "--steps", "2", timeout=1200)
    assert re.fullmatch(r"phase_reuse: 1/1 .*resume of the finished run: 0 more; trials completed 4/4\)", lines[-1])


# --- DeepSpeed memory (bench/zero_memory.py)

@pytest.mark.slow
def test_zero_memory_benchmark_prints_a_ratio_below_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "zero_memory", "--model", "tiny", "--steps", "2", "--batch", "4",
         "--length", "16", "--precisions", "fp32"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    match = re.fullmatch(r"zero_memory: (\d+\.\d{3}) \(target <= 0\.55; the limit is 0\.5; tiny, 2 workers, .*fp32 "
                         r"\d\.\d{3}: ZeRO-3 [\d.]+ MiB vs ZeRO-0 [\d.]+ MiB; .*\)", lines[-1])
    assert match, lines[-1]
    assert 0 < float(match.group(1)) < 1
    zero3 = [line for line in lines if "fp32 ZeRO-3 rank" in line]
    assert len(zero3) == 2 and all("encoder built partitioned: True" in line for line in zero3)


# --- raytl rank against one target phase (bench/rank_cost.py)

def test_runner_knows_the_rank_cost_benchmark() -> None:
    from bench.__main__ import benchmark_names

    assert "rank_cost" in benchmark_names()


@pytest.mark.slow
def test_rank_cost_benchmark_prints_its_figure_last() -> None:
    lines = _bench("rank_cost", "--repeats", "1", "--target-steps", "2", "--train-size", "128", timeout=600)
    assert re.fullmatch(r"rank_cost: \d+\.\d{4} \(target <= 0\.05; `raytl rank` of quickstart\.yaml, 2 targets x 3 "
                        r"intermediate tasks, semb \+ logme, [\d.]+ s / one target phase of xnli, 2 steps x batch 32, "
                        r"[\d.]+ s; tiny model, world 1; median of 1 repeats, min \d+\.\d{4}\)", lines[-1])
    assert any(re.match(r"repeat 0: rank [\d.]+ s, one target phase \(xnli\) [\d.]+ s, ratio ", line) for line in lines)


# --- chaos (fault injection)

def test_chaos_integrity_scan_finds_damaged_and_half_written_files(tmp_path: Path) -> None:
    """The scan the chaos benchmark trusts: intact files pass, each kind of damage is named."""
    import torch
    from safetensors.torch import save_file

    from bench.chaos.integrity import scan
    from raytl.pipeline.store import PhaseStore

    run = tmp_path / "run"
    (run / "trials" / "t1").mkdir(parents=True)
    (run / "trials" / "t1" / "summary.json").write_text('{"status": "completed"}')
    save_file({"w": torch.ones(64)}, str(run / "trials" / "t1" / "head.safetensors"))
    torch.save({"step": 4}, run / "trials" / "t1" / "rng-rank0.pt")
    store = PhaseStore(run / "phases")
    store.publish("p1", lambda d: save_file({"w": torch.zeros(64)}, str(d / "model.safetensors")), {})
    assert scan(run) == ([], 6)  # summary, head, rng; the phase's weights, its manifest and its build record

    (run / "trials" / "t1" / ".summary.json.x1y2z3").write_text('{"stat')  # write_atomic's leftover
    weights = run / "phases" / "p1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    problems, _ = scan(run)
    assert [p.split(":")[0] for p in problems] == [
        "phases/p1/model.safetensors", "trials/t1/.summary.json.x1y2z3", "phases/p1"], problems


def test_chaos_node_removed_finds_the_train_workers_node() -> None:
    """`node_removed` removes the node whose raylet started a `ray::RayTrainWorker`; other processes, and workers
    of a raylet that is not one of the cluster's worker nodes (another Ray on the machine), are not matched."""
    import os
    import random
    from types import SimpleNamespace

    from bench.chaos.environments import Place
    from bench.chaos.faults import Strike, _train_worker_nodes

    def node(node_id: str, raylet_pid: int) -> SimpleNamespace:
        return SimpleNamespace(node_id=node_id, all_processes={"raylet": [SimpleNamespace(
            process=SimpleNamespace(pid=raylet_pid))]})

    def spawn(argv0: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", f"exec -a '{argv0}' sleep 60"])

    worker, other = spawn("ray::RayTrainWorker.__init__"), spawn("ray::IDLE")
    try:
        def nodes(*worker_nodes: SimpleNamespace) -> dict[str, list[int]]:
            place = Place("runs", Path("runs"), cluster=SimpleNamespace(worker_nodes=list(worker_nodes)))
            return _train_worker_nodes(Strike(None, place, Path("run"), random.Random(0), {}))  # type: ignore[arg-type]

        for _ in range(50):  # until bash has exec'd under its new name
            if Path(f"/proc/{worker.pid}/cmdline").read_bytes().startswith(b"ray::RayTrainWorker"):
                break
            subprocess.run(["sleep", "0.05"])
        assert nodes(node("here", os.getpid()), node("elsewhere", worker.pid)) == {"here": [worker.pid]}
        assert nodes(node("elsewhere", worker.pid)) == {}
    finally:
        for process in (worker, other):
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_chaos_smoke_recovers_every_fault() -> None:
    """`--smoke`: the reference search, then one file damaged and the driver killed, recovered with `raytl resume`;
    its own Ray under a fresh RAY_TMPDIR (inherited by every raytl process)."""
    import os
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="rtl-chaos-", dir="/tmp")  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    done = subprocess.run([sys.executable, "-m", "bench", "chaos", "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=880, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"chaos: 1/1 recovered, 0 trials re-run, max steps lost [0-4] \(one interval 4\), 0 corrupt "
                        r"files, 1/1 results equal the reference \(target: .*\)", lines[-1]), "\n".join(lines[-20:])
    assert any(line.startswith("| corrupt_file | 1/1 | 1/1 | 0 |") for line in lines), lines
