"""`raytl rank`: LogME against its formula and known cases, the feature views, and the real check on the
quickstart's data (generated MNLI shares XNLI's signal, QQP shares PAWS-X's: both priors must see it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from raytl.search.logme import evidence, logme, maximise
from tests.conftest import ROOT, tiny_space, write_space


def _brute_force(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y; 0, F F^T / alpha + I / beta) / n: the evidence of y = F w + noise, w integrated out."""
    n = len(y)
    covariance = features @ features.T / alpha + np.eye(n) / beta
    _, log_det = np.linalg.slogdet(covariance)
    return float(-(y @ np.linalg.solve(covariance, y) + log_det + n * np.log(2 * np.pi)) / 2 / n)


@pytest.mark.parametrize("n,dim", [(40, 6), (9, 25)])  # more rows than features, and fewer
def test_evidence_matches_the_gaussian_marginal_likelihood(n: int, dim: int) -> None:
    rng = np.random.default_rng(n)
    features, y = rng.normal(size=(n, dim)), rng.normal(size=n)
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    for alpha, beta in [(1.0, 1.0), (0.2, 7.0), (30.0, 0.5)]:
        assert evidence(u, s, dim, y, alpha, beta) == pytest.approx(_brute_force(features, y, alpha, beta), rel=1e-9)


def test_the_fixed_point_maximises_the_evidence() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 8))
    y = features @ rng.normal(size=8) + 0.5 * rng.normal(size=60)
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    alpha, beta = maximise(u, s, y)
    best = evidence(u, s, 8, y, alpha, beta)
    for scale_a in (0.8, 1.0, 1.25):
        for scale_b in (0.8, 1.0, 1.25):
            assert evidence(u, s, 8, y, alpha * scale_a, beta * scale_b) <= best + 1e-9
    assert beta == pytest.approx(1 / 0.25, rel=0.35), "the noise precision of the data"


def test_features_that_determine_the_labels_score_higher_than_random_ones() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=400)
    informative = np.hstack([np.eye(3)[labels] + 0.3 * rng.normal(size=(400, 3)), rng.normal(size=(400, 13))])
    random_features = rng.normal(size=(400, 16))
    assert logme(informative, labels) > logme(random_features, labels) + 0.3
    assert logme(informative[:, :3], labels) > logme(informative[:, 3:], labels)


class _IdEncoder(torch.nn.Module):
    """hidden_states[-1][b, t] = [input id, position, the row's id sum]: features that show which token was read."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, output_hidden_states: bool):
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        sums = (input_ids * attention_mask).sum(1, keepdim=True).expand_as(input_ids)
        hidden = torch.stack([input_ids.float(), positions.float(), sums.float()], dim=-1)
        return type("Out", (), {"hidden_states": (hidden, hidden)})()


def test_feature_views_read_what_the_heads_read() -> None:
    from raytl.search.rank_features import logme_view, mean_embeddings

    rows = [{"input_ids": [0, 7, 9, 2], "labels": 1}, {"input_ids": [0, 5, 2], "labels": 0}]
    features, labels = logme_view(_IdEncoder(), rows, pad_id=1, fmt="classification")
    assert features[:, 1].tolist() == [0.0, 0.0], "the first token, <s>"
    assert sorted(zip(features[:, 2].tolist(), labels.tolist(), strict=True)) == [(7.0, 0), (18.0, 1)]
    tagged = [{"input_ids": [0, 7, 8, 9, 2], "labels": [-100, 3, -100, 4, -100]},
              {"input_ids": [0, 5, 2], "labels": [-100, 6, -100]}]
    features, labels = logme_view(_IdEncoder(), tagged, pad_id=1, fmt="tagging")
    assert sorted(zip(features[:, 0].tolist(), labels.tolist(), strict=True)) == [(5.0, 6), (7.0, 3), (9.0, 4)]
    pooled = mean_embeddings(_IdEncoder(), rows + [{"input_ids": [[0, 4, 2], [0, 6, 6, 2]]}], pad_id=1, layer=-1)
    assert pooled[:, 0].tolist() == pytest.approx([18 / 4, 7 / 3, (2 + 3.5) / 2]), "padding out, choices averaged"
    with pytest.raises(KeyError):
        logme_view(_IdEncoder(), rows, pad_id=1, fmt="span_qa")


def test_quickstart_priors_see_the_planted_transfer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quickstart's data as shipped (2,048 generated rows per task), its intermediate phase cut to 10 steps
    (LogME's margins were measured at 5, 10, 20 and 60 steps; see docs/readme/rank.md), trained through the real
    intermediate phase (`--train-missing`: `obtain_intermediate`, one process, world 1)."""
    from raytl.config import parse_space
    from raytl.pipeline.run_dir import RunDir
    from raytl.pipeline.store import PhaseStore
    from raytl.search.rank import RankSettings, rank

    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    raw = yaml.safe_load((ROOT / "search_spaces" / "quickstart.yaml").read_text())
    raw["storage"] = str(tmp_path / "runs")
    raw["models"] = ["tiny"]  # the priors are measured on the smallest model (tiny4 would double the training)
    raw["search"]["points_to_evaluate"] = [p for p in raw["search"]["points_to_evaluate"] if p["model"] == "tiny"]
    for phase in ("intermediate", "target"):
        raw[phase].pop("lr_by_model", None)
    raw["intermediate"].update(max_steps=10, eval_every=10)
    space = parse_space(raw)
    run = RunDir.of(space.storage, space.name)
    ranking = rank(space, run, RankSettings(train_missing=True))["tiny"]

    def order(target: str, method: str) -> list[str]:
        return [e["intermediate"] for e in ranking[target] if e["method"] == method and e["intermediate"] != "none"]

    for method in ("semb", "logme"):
        assert order("xnli", method) == ["mnli", "qqp"], (method, ranking["xnli"])
        assert order("pawsx", method) == ["qqp", "mnli"], (method, ranking["pawsx"])
    builds = PhaseStore(run.phases).builds()
    assert sorted(build["task"] for build in builds) == ["mnli", "qqp"] and {b["steps"] for b in builds} == {10}
    again = rank(space, run, RankSettings(methods=("logme",)))["tiny"]  # the published phases are found, not retrained
    assert len(PhaseStore(run.phases).builds()) == 2
    assert again["xnli"] == [e for e in ranking["xnli"] if e["method"] == "logme"]


def test_rank_json_lists_every_intermediate_per_method_and_names_missing_phases(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch,
                                                                                capsys: pytest.CaptureFixture[str]
                                                                                ) -> None:
    from raytl.cli import main

    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    space = write_space(tmp_path / "space.yaml",
                        tiny_space(tmp_path / "runs", intermediate_tasks=["none", "mnli", "qqp"]))
    monkeypatch.setattr("sys.argv", ["raytl", "rank", str(space), "--json", "--semb-examples", "64",
                                     "--logme-examples", "64"])
    main()
    ranking = json.loads(capsys.readouterr().out)
    entries = ranking["tiny"]["xnli"]
    semb = [e for e in entries if e["method"] == "semb"]
    assert {e["intermediate"] for e in semb} == {"mnli", "qqp"} and semb[0]["score"] >= semb[1]["score"]
    assert all(e["examples"] == 64 and e["layer"] == -1 for e in entries)
    logme_entries = {e["intermediate"]: e for e in entries if e["method"] == "logme"}
    assert np.isfinite(logme_entries["none"]["score"]), "the base encoder needs no phase"
    assert logme_entries["mnli"]["score"] is None and "not in the phase store" in logme_entries["mnli"]["missing"]


@pytest.mark.parametrize("args,message", [
    (["nope.yaml"], "nope.yaml: file not found"),
    (["runs"], "runs: not a run directory"),
    (["SPACE", "--method", "taskemb"], "--method taskemb: unknown; allowed: semb, logme"),
    (["SPACE", "--semb-layer", "7", "--method", "semb"], "--semb-layer 7: model tiny has 2 layers"),
])
def test_rank_bad_input_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], args: list[str],
                                               message: str) -> None:
    from raytl.cli import main

    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path / "space.yaml", tiny_space(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr("sys.argv", ["raytl", "rank", *[str(space) if a == "SPACE" else a for a in args]])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error


# --- what ranking costs

def test_logme_formats_are_the_feature_views() -> None:
    from raytl.search.rank import LOGME_FORMATS
    from raytl.search.rank_features import VIEWS

    assert set(LOGME_FORMATS) == set(VIEWS)


def test_rank_cost_counts_its_samples_forward_against_the_target_phase(tmp_path: Path) -> None:
    from raytl.config import parse_space
    from raytl.models.zoo import ZOO
    from raytl.search.rank import RankSettings
    from raytl.search.rank_cost import rank_costs

    raw = tiny_space(tmp_path, models=["large"], intermediate_tasks=["none", "mnli", "qqp"], targets=["xnli", "xquad"])
    raw["target"] = {**raw["target"], "max_steps": None, "epochs": 2, "batch_size": 32, "max_length": 128}
    raw["intermediate"] = {**raw["intermediate"], "max_length": 256}
    raw["data"] = {"source": "hub"}
    space = parse_space(raw)
    entry = ZOO["large"]
    h, i, layers = entry.hidden_size, entry.intermediate_size, entry.layers

    def forward(rows: int, tokens: int) -> float:  # 2 x parameters x tokens plus attention, forward only
        return rows * tokens * (2 * layers * (4 * h * h + 2 * h * i) + 4 * layers * h * tokens)

    costs = {c.target: c for c in rank_costs(space, RankSettings(semb_examples=500, logme_examples=300))}
    shared = forward(2 * 500, 256) / 2  # mnli's and qqp's SEmb rows, split between the two targets
    xnli = shared + forward(500, 128) + forward(3 * 300, 128)  # LogME under none, mnli and qqp
    xquad = shared + forward(500, 128)  # span QA: no LogME view
    assert costs["xnli"].flops == pytest.approx(xnli)
    assert costs["xquad"].flops == pytest.approx(xquad)
    xnli_training = 2 * 392_702 // 32 * 32 * 3 * forward(1, 128)  # 2 epochs of XTREME's 392,702 rows, 3x forward
    assert costs["xnli"].share == pytest.approx(xnli / xnli_training)
    assert costs["xnli"].share < costs["xquad"].share  # XNLI trains 4.5 times the rows of SQuAD


def test_rank_cost_reads_a_small_training_set_whole(tmp_path: Path) -> None:
    from raytl.config import parse_space
    from raytl.models.zoo import ZOO
    from raytl.search.rank import RankSettings
    from raytl.search.rank_cost import rank_costs
    from raytl.training.memory import step_flops

    space = parse_space(tiny_space(tmp_path))  # generated data: 256 training rows a task, mnli and xnli
    (cost,) = rank_costs(space, RankSettings(semb_examples=1000, logme_examples=1000))
    forward = step_flops(ZOO["tiny"], 1, 48) / 3  # both phases at 48 tokens
    assert cost.flops == pytest.approx((256 + 256 + 2 * 256) * forward)  # SEmb: mnli and xnli; LogME: none, mnli
