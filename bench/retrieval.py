"""BUCC-style margin mining: `raytl.tasks.sentence_retrieval.mine_pairs` against the faiss reference and one
matrix product.

`python -m bench retrieval [--n 20000] [--dim 1024] [--repeats 3] [--k 4]`

- reference: faiss `IndexFlatIP` exact k-NN in both directions, then a Python loop scoring every candidate
  and a greedy loop, as XTREME's `utils_retrieve.py` mines (its "max" retrieval, ratio margin);
- floor: ONE n x n x d float32 product `torch.mm(x, y.T)` into a preallocated output, through the same BLAS
  that `mine_pairs` uses (torch's);
- ours: `mine_pairs`, blocked, both directions from one pass.

Checks that ours and the reference mine the same pairs with the same scores (1e-6), measures ours' peak extra
RSS, and prints the figure last: `retrieval: <ours / floor> (target <= 1.2 ...)`. Runs are interleaved and
repeated; times are the minimum over repeats (medians printed beside them). The machine is shared: compare
ratios from one run only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytl.tasks.sentence_retrieval import mine_pairs

Pairs = list[tuple[int, int, float]]


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--n", "300", "--dim", "32", "--repeats", "1"])  # doctest: +SKIP
    """
    args = _parse(argv)
    x, y = embeddings(args.n, args.dim, args.seed)
    _print_setup(args)
    peak = _peak_rss_delta(lambda: mine_pairs(x, y, k=args.k))  # first: later runs leave freed heap resident
    times: dict[str, list[float]] = {"floor": [], "ours": [], "reference": []}
    product = _one_product(x, y)
    for _ in range(args.repeats):
        times["floor"].append(_timed(product)[0])
        ours_time, ours = _timed(lambda: mine_pairs(x, y, k=args.k))
        times["ours"].append(ours_time)
        reference_time, reference = _timed(lambda: reference_mine(x, y, args.k))
        times["reference"].append(reference_time)
    for name, values in times.items():
        low, middle = min(values), statistics.median(values)
        print(f"{name:>9}: min {low:.2f} s, median {middle:.2f} s over {len(values)}")
    same, detail = compare(ours, reference)
    print(f"pairs identical to the reference (scores within 1e-6 relative): {same} ({detail})")
    full = args.n * args.n * 4
    print(f"peak extra RSS of mine_pairs: {_mib(peak)} (the n x n matrix would be {_mib(full)})")
    ratio = min(times["ours"]) / min(times["floor"])
    speedup = min(times["reference"]) / min(times["ours"])
    print(
        f"retrieval: {ratio:.2f} (target <= 1.2: time of mine_pairs / one n x n x d product; "
        f"{speedup:.2f}x faster than the faiss reference, target >= 1.6x; n={args.n}, d={args.dim}, "
        f"pairs identical: {same})"
    )


def reference_mine(x: np.ndarray, y: np.ndarray, k: int) -> Pairs:
    """XTREME's way: faiss k-NN both directions, per-candidate Python scoring, greedy loop over candidates."""
    import faiss  # here: bench gpu reuses this module's embeddings where faiss is not installed

    x, y = x.copy(), y.copy()
    faiss.normalize_L2(x)
    faiss.normalize_L2(y)
    x2y_sim, x2y_ind = _faiss_knn(x, y, min(k, len(y)))
    y2x_sim, y2x_ind = _faiss_knn(y, x, min(k, len(x)))
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd_scores = _score_loop(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = _score_loop(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(len(x)), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd_scores.argmax(axis=1)]
    sources = np.concatenate([np.arange(len(x)), bwd_best])
    targets = np.concatenate([fwd_best, np.arange(len(y))])
    scores = np.concatenate([fwd_scores.max(axis=1), bwd_scores.max(axis=1)])
    used_sources, used_targets, pairs = set(), set(), []
    for i in np.argsort(-scores, kind="stable"):
        if sources[i] not in used_sources and targets[i] not in used_targets:
            used_sources.add(sources[i])
            used_targets.add(targets[i])
            pairs.append((int(sources[i]), int(targets[i]), float(scores[i])))
    return pairs


def compare(ours: Pairs, reference: Pairs, tolerance: float = 1e-6) -> tuple[bool, str]:
    """Whether both mined the same (source, target) pairs with scores within `tolerance`, relative.

    Relative because the reference scores in float32: ratio margins reach 3 and more, where float32 rounding
    alone is ~1e-6 absolute.
    """
    mine = {(s, t): score for s, t, score in ours}
    theirs = {(s, t): score for s, t, score in reference}
    shared = mine.keys() & theirs.keys()
    absolute = max((abs(mine[p] - theirs[p]) for p in shared), default=0.0)
    relative = max((abs(mine[p] - theirs[p]) / abs(theirs[p]) for p in shared if theirs[p]), default=0.0)
    only = len(mine.keys() ^ theirs.keys())
    same = only == 0 and relative <= tolerance
    differences = f"score differences <= {absolute:.1e} ({relative:.1e} relative)"
    return same, f"{len(mine)} pairs, {only} not shared, {differences}"


def _one_product(x: np.ndarray, y: np.ndarray) -> Callable[[], torch.Tensor]:
    """The floor: x @ y.T into an output allocated and touched beforehand, so only the product is timed."""
    queries, keys = torch.from_numpy(x), torch.from_numpy(y)
    out = torch.zeros(len(x), len(y))
    return lambda: torch.mm(queries, keys.T, out=out)


def _faiss_knn(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    return index.search(queries, k)


def _score_loop(x: np.ndarray, y: np.ndarray, candidates: np.ndarray, fwd_mean: np.ndarray,
                bwd_mean: np.ndarray) -> np.ndarray:
    scores = np.zeros(candidates.shape)
    for i in range(candidates.shape[0]):
        for j in range(candidates.shape[1]):
            neighbour = candidates[i, j]
            scores[i, j] = x[i].dot(y[neighbour]) / ((fwd_mean[i] + bwd_mean[neighbour]) / 2)
    return scores


def embeddings(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised float32 pairs: half the targets are noisy translations of a source, half distractors."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.standard_normal((n, dim), dtype=np.float32)
    translated = rng.permutation(n)[: n // 2]
    y[translated] = x[rng.permutation(translated)] + 0.8 * y[translated]
    return _unit(x), _unit(y)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _peak_rss_delta(fn: Callable[[], Any]) -> int | None:
    """Peak resident memory above the level before `fn`, in bytes (Linux: VmHWM reset via clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _mib(size: int | None) -> str:
    return "unavailable (needs Linux /proc)" if size is None else f"{size / 2**20:.0f} MiB"


def _print_setup(args: argparse.Namespace) -> None:
    print(f"n={args.n} d={args.dim} k={args.k} repeats={args.repeats} threads={torch.get_num_threads()}")
    blas = "MKL" if torch.backends.mkl.is_available() else "not MKL"
    print(f"torch BLAS (ours and the floor): {blas}, torch {torch.__version__}")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        print(f"{name}={os.environ.get(name, '<unset>')}")
    from threadpoolctl import threadpool_info  # here: bench gpu reuses this module where it is not installed

    for pool in threadpool_info():
        kernel, threads = pool.get("architecture", "-"), pool["num_threads"]
        print(f"threadpool: {pool['prefix']} {pool.get('version')} kernel={kernel} threads={threads}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="sentences per side")
    parser.add_argument("--dim", type=int, default=1024, help="embedding size")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; minimum reported")
    parser.add_argument("--k", type=int, default=4, help="neighbourhood size of the margin")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random embeddings")
    return parser.parse_args(argv)
