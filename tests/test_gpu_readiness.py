"""Ready for the GPU: `raytl plan`'s compute estimate, and `python -m bench gpu` in smoke mode on a Python where Ray,
Optuna and datasets cannot be imported (as on a GPU machine without internet)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from raytl.config import parse_space
from raytl.models.zoo import ZOO
from raytl.search.compute_plan import (
    ASSUMED_MFU,
    XTREME_TRAIN_SIZES,
    describe_cost,
    mfu_source,
    phase_costs,
    search_gpu_hours,
)
from raytl.search.plan import describe, load_checked
from raytl.training.memory import GIB, estimate_memory

REPO = Path(__file__).resolve().parents[1]
SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))
BLOCKER = '''import sys

class _Absent:
    """Ray, Optuna and datasets are not installed here (as on a GPU machine without internet)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ray", "optuna", "datasets"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Absent())
'''


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))


# --- the compute estimate

@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_plan_prints_gpu_hours_for_every_shipped_space(path: Path) -> None:
    space = load_checked(path)
    text = describe(space)
    costs = phase_costs(space)
    assert len(costs) == len(space.models) * (len([t for t in space.intermediate_tasks if t != "none"])
                                              + len(space.targets))
    for cost in costs:
        assert f"    {cost.line()}" in text
    assert re.search(r"the search: [\d,]+ trials, at most [\d.,e-]+ GPU-hours .* wall-clock ", text)
    assert search_gpu_hours(space, costs) > 0


def test_target_phase_flops_are_six_n_t_plus_attention_from_xtreme_sizes() -> None:
    space = load_checked(REPO / "search_spaces/phang2020.yaml")
    phase = space.target_phase("xnli")
    (xnli,) = [c for c in phase_costs(space) if c.phase == "target xnli"]
    steps = int(phase.epochs * XTREME_TRAIN_SIZES["xnli"] // phase.batch_size)
    entry = ZOO["large"]
    h, i, layers = entry.hidden_size, entry.intermediate_size, entry.layers
    per_token = 6 * layers * (4 * h * h + 2 * h * i) + 12 * layers * h * phase.max_length
    assert xnli.steps == steps
    assert xnli.flops == pytest.approx(steps * per_token * phase.batch_size * phase.max_length)
    assert xnli.gpu_hours == pytest.approx(xnli.flops / (ASSUMED_MFU * 989.5e12) / 3600)
    assert [c.steps for c in phase_costs(space) if c.phase in ("target bucc2018", "target tatoeba")] == [0, 0]


def test_resources_mfu_and_peak_price_the_same_flops(tmp_path: Path) -> None:
    base = load_checked(REPO / "search_spaces/phang2020.yaml")
    dump = base.model_dump(mode="json")
    halved = parse_space({**dump, "resources": {**dump["resources"], "mfu": ASSUMED_MFU / 2, "gpu_tflops": 312}},
                         "x.yaml")
    assert mfu_source(halved) == (ASSUMED_MFU / 2, "resources.mfu")
    ratio = search_gpu_hours(halved, phase_costs(halved)) / search_gpu_hours(base, phase_costs(base))
    assert ratio == pytest.approx(2 * 989.5 / 312)
    assert any("search.gpu_hours 4000" in line for line in describe_cost(base))


def test_bad_mfu_is_one_line_exit_2(tmp_path: Path) -> None:
    text = (REPO / "search_spaces/quickstart.yaml").read_text()
    bad = tmp_path / "space.yaml"
    assert "resources: {" in text
    bad.write_text(text.replace("resources: {", "resources: {mfu: 1.5, ", 1))
    done = subprocess.run([sys.executable, "-m", "raytl", "plan", str(bad)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "space.yaml" in line and "resources.mfu" in line


# --- bench gpu

def test_micro_batch_is_the_largest_the_planner_fits() -> None:
    from bench.gpu import Card, _parse, plan_cases

    args = _parse(["--models", "large,xl", "--stages", "2", "--lengths", "256"])
    card = Card("a 40 GiB card", 1e15, 40 * GIB, cuda=True)
    cases, skipped = plan_cases(args, card)
    (large,) = cases
    assert large.settings.micro_batch * 256 <= args.tokens
    assert large.estimate.total <= 0.9 * card.memory
    bigger = estimate_memory(ZOO["large"], large.settings.__class__(**{**large.settings.__dict__,
                                                                       "micro_batch": 2 * large.settings.micro_batch}),
                             256)
    assert bigger.total > 0.9 * card.memory or 2 * large.settings.micro_batch * 256 > args.tokens
    assert skipped == ["xl ZeRO-2 seq 256: skipped, the planner fits not even micro batch 1 in 90% of 40.0 GiB"]


@pytest.mark.timeout(600)
def test_bench_gpu_smoke_runs_without_ray_optuna_and_datasets(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "bench", "gpu", "--smoke", "--models", "large", "--stages", "2,3",
                           "--lengths", "16", "--steps", "1", "--mining-n", "300"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert any(re.match(r"large ZeRO-3 seq 16 micro 8 fp32: [\d,]+ tokens/s", line) for line in lines)
    assert "search: skipped (ray, optuna, datasets not installed)" in lines
    assert re.fullmatch(r"gpu: MFU \d\.\d{3} \(large, ZeRO-2, seq 16, target >= 0\.45\) planner/measured memory n/a "
                        r"\(target 0\.85-1\.15\); all 2 cases: MFU .*; mining \d+\.\d\d x one product on the CPU "
                        r"\(n=300, .*identical to the CPU's: True\); search skipped .*; CPU \(smoke\), \d+ s "
                        r"\(smoke: tiny shapes on the CPU, not GPU figures\)", lines[-1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheelhouse_builds_under_64_mib_and_installs_for_this_python(tmp_path: Path) -> None:
    """scripts/gpu_wheels.sh (needs a package index) writes every wheel scripts/gpu_bench.sh installs, for this
    interpreter too, in at most 64 MiB."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    env = {**os.environ, "PYTHON": sys.executable}
    built = subprocess.run(["bash", "scripts/gpu_wheels.sh", str(wheels)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=500)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert sum(path.stat().st_size for path in wheels.iterdir()) <= 64 * 2**20
    script = (REPO / "scripts/gpu_bench.sh").read_text()
    names = script.split("--target \"$SITE\" \\\n", 1)[1].split('\nexport', 1)[0].replace("\\\n", " ").split()
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
                                str(wheels), "--no-deps", "--target", str(site), *names], capture_output=True,
                               text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert {"deepspeed", "pydantic", "pydantic_core", "msgpack"} <= {path.name for path in site.iterdir()}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_gpu_smoke_spawns_two_ranks() -> None:
    """The two-GPU path (spawned ranks, one process group) on the CPU: rank 0's results reach the figure."""
    done = subprocess.run([sys.executable, "-m", "bench", "gpu", "--smoke", "--workers", "2", "--models", "large",
                           "--stages", "3", "--lengths", "16", "--steps", "1", "--no-mining", "--no-search"], cwd=REPO,
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert sum(line.startswith("large ZeRO-3 seq 16 micro 8 fp32: ") for line in lines) == 1, "rank 0 prints"
    assert lines[-1].startswith("gpu: MFU n/a (large, ZeRO-2, seq 16 not run); all 1 cases: MFU ")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_bench_gpu_smoke_runs_the_search_where_ray_is_installed() -> None:
    """Where Ray is importable, the 2-trial `raytl search` of a model directory with random weights completes."""
    ray_tmp = tempfile.mkdtemp(prefix="rtl-gpu-", dir="/tmp")  # short: Ray's socket paths (<108 bytes) live under it
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    done = subprocess.run([sys.executable, "-m", "bench", "gpu", "--smoke", "--models", "large", "--stages", "2",
                           "--lengths", "16", "--steps", "1", "--no-mining", "--search-timeout", "1000"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^search: 2 trials of a tiny4-shaped model on gloo: exit 0 in \d+ s, 2 completed in the "
                     r"results table$", done.stdout, re.MULTILINE), done.stdout[-3000:]


def test_building_an_engine_does_not_import_inductor() -> None:
    """Trial start-up: DeepSpeed's Muon module compiles a function at import; `Engine` keeps that from importing
    Inductor (about 1 s of every trial's start, more under load)."""
    code = """
import sys
import tempfile
from raytl.models.task_model import TaskModel, random_encoder
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.training.distributed import single_process_group
from raytl.training.engine import Engine, deepspeed_config
from raytl.training.settings import DeepSpeedSettings

encoder = random_encoder(ZOO["tiny"], 1000, seed=0)
model = TaskModel(encoder, FORMATS["classification"].head(encoder.config, TASKS["xnli"]))
config = deepspeed_config(DeepSpeedSettings(2, "none", "fp32", 1, 4, hidden_size=64), 4, 1e-3, 10, 1, 1.0)
with single_process_group():
    Engine(model, config, weight_decay=0.0)
print("muon imported:", "deepspeed.runtime.zero.muon.original_muon" in sys.modules)
print("inductor imported:", "torch._inductor.compile_fx" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-2:] == ["muon imported: True", "inductor imported: False"]
