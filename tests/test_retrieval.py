"""Retrieval against brute-force references written out plainly here (full matrix, Python loops)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raytl.tasks.sentence_retrieval import (
    _greedy_one_to_one,
    dedup_sentences,
    fit_threshold,
    mean_pool,
    mine_pairs,
    nearest_neighbours,
    pairs_to_ids,
)


def brute_force_mine(src: np.ndarray, trg: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """The definition in docs/xtreme.md, in float64 over the whole similarity matrix."""
    x = src / np.linalg.norm(src, axis=1, keepdims=True)
    y = trg / np.linalg.norm(trg, axis=1, keepdims=True)
    sim = x.astype(np.float64) @ y.astype(np.float64).T
    fwd = np.argsort(-sim, axis=1, kind="stable")[:, : min(k, len(y))]
    bwd = np.argsort(-sim.T, axis=1, kind="stable")[:, : min(k, len(x))]
    fwd_mean = np.take_along_axis(sim, fwd, axis=1).mean(axis=1)
    bwd_mean = np.take_along_axis(sim.T, bwd, axis=1).mean(axis=1)
    candidates = []
    for i in range(len(x)):
        scores = [sim[i, j] / ((fwd_mean[i] + bwd_mean[j]) / 2) for j in fwd[i]]
        candidates.append((i, int(fwd[i][np.argmax(scores)]), max(scores)))
    for j in range(len(y)):
        scores = [sim[i, j] / ((fwd_mean[i] + bwd_mean[j]) / 2) for i in bwd[j]]
        candidates.append((int(bwd[j][np.argmax(scores)]), j, max(scores)))
    return sequential_greedy(candidates)


def sequential_greedy(candidates: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    used_sources, used_targets, kept = set(), set(), []
    for source, target, score in sorted(candidates, key=lambda c: -c[2]):  # sorted() is stable
        if source not in used_sources and target not in used_targets:
            used_sources.add(source)
            used_targets.add(target)
            kept.append((source, target, score))
    return kept


def _assert_same(got: list[tuple[int, int, float]], expected: list[tuple[int, int, float]]) -> None:
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected]
    # Cosines come from a float32 product; the ratio margin scales their rounding (here up to 8x), so 1e-6
    # holds relative to the score.
    np.testing.assert_allclose([c[2] for c in got], [c[2] for c in expected], rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("n", "m", "dim", "block_size"),
    [
        (120, 90, 16, None),
        (150, 170, 8, 33),
        (200, 200, 32, 40),
        (64, 50, 4, 16),
        (40, 30, 8, 1),
        (3, 5, 6, 2),
        (700, 650, 16, 150),  # wide enough for the grouped top-k of rows and columns, and 5 streamed blocks
    ],
)
def test_mining_matches_brute_force(n: int, m: int, dim: int, block_size: int | None) -> None:
    rng = np.random.default_rng(n * m + dim)
    src = rng.standard_normal((n, dim)).astype(np.float32)
    trg = rng.standard_normal((m, dim)).astype(np.float32)
    _assert_same(mine_pairs(src, trg, k=4, block_size=block_size), brute_force_mine(src, trg, 4))


def test_mining_on_clustered_data_with_many_conflicts() -> None:
    # Few directions, many near-copies: candidates collide on sources and targets, the greedy needs rounds.
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((5, 12))
    src = (centres[rng.integers(0, 5, 300)] + 0.3 * rng.standard_normal((300, 12))).astype(np.float32)
    trg = (centres[rng.integers(0, 5, 260)] + 0.3 * rng.standard_normal((260, 12))).astype(np.float32)
    _assert_same(mine_pairs(src, trg, block_size=37), brute_force_mine(src, trg, 4))


def test_mining_when_every_block_beats_the_ones_before() -> None:
    # Later source rows lie ever closer to the targets, so most of each block passes the columns' running
    # k-th best: the streamed column top-k must still equal the brute force.
    rng = np.random.default_rng(3)
    trg = rng.standard_normal((400, 24)).astype(np.float32)
    closeness = np.linspace(0.0, 1.0, 500, dtype=np.float32)[:, None]
    src = closeness * trg[np.arange(500) % 400] + (1 - closeness) * rng.standard_normal((500, 24)).astype(np.float32)
    _assert_same(mine_pairs(src, trg, block_size=96), brute_force_mine(src, trg, 4))


def test_mining_recovers_planted_translations_and_leaves_input_alone() -> None:
    rng = np.random.default_rng(0)
    src = rng.standard_normal((100, 64)).astype(np.float32)
    permutation = rng.permutation(100)
    trg = src[permutation] + 0.1 * rng.standard_normal((100, 64)).astype(np.float32)
    before = src.copy()
    pairs = mine_pairs(src, torch.from_numpy(trg), block_size=17)
    assert sorted((t, s) for s, t, _ in pairs) == sorted(enumerate(permutation.tolist()))
    assert [c[2] for c in pairs] == sorted((c[2] for c in pairs), reverse=True)
    np.testing.assert_array_equal(src, before)


def test_greedy_rounds_equal_the_sequential_scan() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        sources, targets = rng.integers(0, 15, 60), rng.integers(0, 12, 60)
        scores = rng.integers(0, 25, 60).astype(np.float64)  # many ties: order by position decides
        kept = _greedy_one_to_one(sources, targets, scores)
        got = [(int(sources[i]), int(targets[i]), scores[i]) for i in kept]
        assert got == sequential_greedy(list(zip(sources.tolist(), targets.tolist(), scores, strict=True)))


def test_fit_threshold_takes_the_midpoint_of_the_best_cut() -> None:
    candidates = [(0, 0, 1.30), (1, 1, 1.20), (2, 5, 1.10), (3, 3, 1.00), (4, 9, 0.90)]
    gold = {(0, 0), (1, 1), (3, 3), (7, 7)}
    # cuts: after 1.30 F1 2/5; after 1.20 4/6; after 1.10 4/7; after 1.00 6/8 (best); after 0.90 6/9
    assert fit_threshold(candidates, gold) == pytest.approx(0.95)


def test_fit_threshold_edges() -> None:
    assert fit_threshold([(0, 0, 2.0), (1, 1, 1.0)], {(0, 0), (1, 1)}) == np.nextafter(1.0, -np.inf)
    assert fit_threshold([(0, 0, 2.0), (1, 1, 1.0)], {(5, 5)}) == np.nextafter(2.0, np.inf)
    # No cut between equal scores: F1 1.0 after the first 1.5 is unreachable. The cuts after 2.0 and after
    # the last 1.5 tie at F1 2/3; the higher threshold wins.
    tied = [(0, 0, 2.0), (1, 1, 1.5), (2, 2, 1.5), (3, 3, 1.5), (4, 4, 1.0)]
    assert fit_threshold(tied, {(0, 0), (1, 1)}) == pytest.approx(1.75)
    with pytest.raises(ValueError):
        fit_threshold([], {(0, 0)})


def test_nearest_neighbours_is_cosine_top1_in_blocks() -> None:
    rng = np.random.default_rng(1)
    queries, keys = rng.standard_normal((23, 8)), rng.standard_normal((31, 8)) * rng.uniform(0.1, 9, (31, 1))
    cosine = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        keys / np.linalg.norm(keys, axis=1, keepdims=True)
    ).T
    np.testing.assert_array_equal(nearest_neighbours(queries, keys, block_size=4), cosine.argmax(axis=1))


def test_mean_pool_averages_non_pad_positions() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0], [7.0, 8.0]]))


def test_dedup_and_ids() -> None:
    texts, owners = dedup_sentences(["de-1", "de-2", "de-3", "de-4"], ["Hallo", "Welt", "Hallo", "Baum"])
    assert texts == ["Hallo", "Welt", "Baum"]
    assert owners == [None, "de-2", "de-4"]  # a repeated sentence has no single id: its pairs are dropped
    pairs = pairs_to_ids([(0, 0, 1.5), (1, 1, 1.2), (2, 0, 1.1)], owners, ["en-1", "en-2"])
    assert pairs == [("de-2", "en-2", 1.2), ("de-4", "en-1", 1.1)]
