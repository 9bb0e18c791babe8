"""BUCC and Tatoeba as targets: loaded in the real layouts, evaluated once per encoder, written for `raytl score`."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from raytl.config import DataConfig, parse_space
from raytl.errors import InputError
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO, retrieval_layer
from raytl.pipeline.context import TrialContext
from raytl.pipeline.phase_id import TrialParams
from raytl.pipeline.progress import TrialRecord
from raytl.pipeline.retrieval_eval import evaluate_retrieval
from raytl.pipeline.run_dir import RunDir
from raytl.search.plan import describe, load_checked, retrieval_layers
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.formats.retrieval import BITEXT_MINING, NEAREST_NEIGHBOUR
from raytl.tasks.loading import load_examples
from raytl.tasks.metrics import METRICS
from raytl.training.distributed import Ranks
from tests.conftest import tiny_space, write_space

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))


def _worker(tmp_path: Path, targets: list[str], **overrides: object) -> TrialContext:
    space = parse_space(tiny_space(tmp_path, targets=targets, data={
        "source": "generated", "generated_train_size": 64, "generated_eval_size": 60}, **overrides))
    return TrialContext(space, TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1), RunDir(tmp_path / "run"), "t0")


def _record(trial: TrialContext, reports: list[dict] | None = None) -> TrialRecord:
    """A trial record whose reports to Tune land in `reports`."""
    return TrialRecord(trial, send=lambda metrics, checkpoint: (reports if reports is not None else []).append(
        metrics), checkpoint=None)


def test_retrieval_targets_are_scored_once_per_encoder(tmp_path: Path) -> None:
    worker, reports = _worker(tmp_path, ["tatoeba", "bucc2018"]), []
    record = _record(worker, reports)
    for target in ("tatoeba", "bucc2018"):
        evaluate_retrieval(worker, target, None, record)
    tatoeba, bucc = record.progress.completed["tatoeba"], record.progress.completed["bucc2018"]
    assert sorted(tatoeba.languages) == sorted(TASKS["tatoeba"].languages)
    # shared sub-word stems make even an untrained tiny encoder retrieve far above chance (1/60)
    assert tatoeba.languages["de"]["accuracy"] > 4 * 100 / 60
    assert set(bucc.languages["de"]) == {"f1", "precision", "recall"} and bucc.score > 0
    assert reports[0]["retrieval_layer"] == 1  # 14/24 of 2 layers rounded (see retrieval_layer), recorded
    predictions = worker.run.predictions("t0")
    assert len((predictions / "tatoeba" / "test-de.tsv").read_text().splitlines()) == 60
    assert all("\t" in line for line in (predictions / "bucc2018" / "test-fr.tsv").read_text().splitlines())
    cached = sorted(p.name for p in (worker.run.root / "retrieval").iterdir())
    assert cached == ["base-tiny-seed0-bucc2018-layer1.json", "base-tiny-seed0-tatoeba-layer1.json"]

    again = _record(worker)
    evaluate_retrieval(worker, "tatoeba", None, again)
    cached_result = again.progress.completed["tatoeba"]
    assert cached_result.languages == tatoeba.languages and cached_result.dev == tatoeba.dev


def test_retrieval_selects_on_dev_data_only(tmp_path: Path) -> None:
    """BUCC selects on its sample (dev) release, Tatoeba (no dev data of its own) on BUCC's: never on test."""
    worker = _worker(tmp_path, ["tatoeba", "bucc2018"])
    record = _record(worker)
    for target in ("tatoeba", "bucc2018"):
        evaluate_retrieval(worker, target, None, record)
    tatoeba, bucc = record.progress.completed["tatoeba"], record.progress.completed["bucc2018"]
    assert sorted(bucc.dev_languages) == ["de", "fr", "ru", "zh"] and math.isfinite(bucc.dev) and bucc.dev > 0
    assert tatoeba.dev == bucc.dev and tatoeba.dev_languages == bucc.dev_languages
    assert bucc.dev != bucc.score  # dev (sample release) and test (training release) are different data


def test_retrieval_layer_keeps_jiants_relative_depth_for_every_size() -> None:
    assert {name: retrieval_layer(entry) for name, entry in ZOO.items()} == {
        "tiny": 1, "tiny4": 2, "base": 7, "large": 14, "xl": 21, "xxl": 28}
    for layers in range(1, 97):  # 14/24 of the depth, rounded half up, never the embeddings, never past the top
        entry = replace(ZOO["tiny"], layers=layers)
        assert retrieval_layer(entry) == math.floor(Fraction(14 * layers, 24) + Fraction(1, 2))
        assert 1 <= retrieval_layer(entry) <= layers
    assert [retrieval_layer(replace(ZOO["tiny"], layers=n)) for n in (6, 18)] == [4, 11]  # the .5 ties go up
    assert retrieval_layer(ZOO["large"], 0) == 0 and retrieval_layer(ZOO["base"], 12) == 12
    with pytest.raises(ValueError, match=r"13 is deeper than base \(12 layers\); allowed: 0 \(embeddings\) to 12, or "
                                         "unset for 7"):
        retrieval_layer(ZOO["base"], 13)


def test_an_explicit_layer_wins_and_is_recorded(tmp_path: Path) -> None:
    worker, reports = _worker(tmp_path, ["tatoeba"], retrieval={"layer": 2}), []
    evaluate_retrieval(worker, "tatoeba", None, _record(worker, reports))
    assert [(r["retrieval_layer"], r["retrieval_pooling"]) for r in reports] == [(2, "mean")]
    assert [p.name for p in (worker.run.root / "retrieval").iterdir()] == ["base-tiny-seed0-tatoeba-layer2.json"]


def test_plan_prints_each_models_retrieval_layer(tmp_path: Path) -> None:
    models = ["tiny", "base", "large", "xl", "xxl"]
    space = parse_space(tiny_space(tmp_path, models=models, targets=["xnli", "tatoeba"]))
    lines = [line.strip() for line in describe(space).splitlines()]
    assert "base: FacebookAI/xlm-roberta-base (277M parameters); retrieval: layer 7 of 12" in lines
    assert "xxl: facebook/xlm-roberta-xxl (10.7B parameters); retrieval: layer 28 of 48" in lines
    assert "tiny: built from config (0.164M parameters); retrieval: layer 1 of 2" in lines
    assert "large: FacebookAI/xlm-roberta-large (559M parameters)" in [
        line.strip() for line in describe(parse_space(tiny_space(tmp_path, models=["large"]))).splitlines()]
    explicit = parse_space(tiny_space(tmp_path, models=["base", "large"], targets=["bucc2018"], retrieval={"layer": 9}))
    assert retrieval_layers(explicit, "s.yaml") == {"base": 9, "large": 9}
    too_deep = write_space(tmp_path / "s.yaml", tiny_space(tmp_path / "runs", models=["tiny", "large"],
                                                           targets=["tatoeba"], retrieval={"layer": 14}))
    with pytest.raises(InputError, match=r"s.yaml: retrieval.layer: 14 is deeper than tiny \(2 layers\)"):
        load_checked(too_deep)


def test_bucc_original_files_keep_distractors(tmp_path: Path) -> None:
    folder = tmp_path / "bucc2018"
    folder.mkdir()
    (folder / "de-en.training.de").write_text("de-1\tHallo Welt\nde-2\tNur hier\nde-3\tHallo Welt\n")
    (folder / "de-en.training.en").write_text("en-1\tHello world\nen-2\tOnly here\n")
    (folder / "de-en.training.gold").write_text("de-1\ten-1\n")
    examples = load_examples(TASKS["bucc2018"], "test", "de", DataConfig(source="local", dir=tmp_path))
    corpus = BITEXT_MINING.corpus(examples)
    assert corpus.gold == {("de-1", "en-1")}
    assert corpus.source.texts == ["Hallo Welt", "Nur hier"] and corpus.source.ids == [None, "de-2"]  # duplicate text
    assert sorted(corpus.target.ids) == ["en-1", "en-2"]
    (folder / "de-en.training.gold").write_text("de-1 en-1\n")
    with pytest.raises(InputError, match=r"de-en.training.gold: line 1: expected 2 tab-separated fields"):
        load_examples(TASKS["bucc2018"], "test", "de", DataConfig(source="local", dir=tmp_path))


def test_tatoeba_files_must_align(tmp_path: Path) -> None:
    (tmp_path / "tatoeba.deu-eng.deu").write_text("a\nb\n")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("a\n")
    with pytest.raises(InputError, match="2 lines but tatoeba.deu-eng.eng has 1"):
        load_examples(TASKS["tatoeba"], "test", "de", DataConfig(source="local", dir=tmp_path))


@pytest.mark.skipif(not (SHARED / "tatoeba").is_dir(), reason="../shared/data/tatoeba is absent (optional real data)")
def test_genuine_tatoeba_files_load_for_every_language() -> None:
    data = DataConfig(source="local", dir=SHARED / "tatoeba")
    for lang in TASKS["tatoeba"].languages:
        examples = load_examples(TASKS["tatoeba"], "test", lang, data)
        corpus = NEAREST_NEIGHBOUR.corpus(examples)
        assert 0 < len(examples) <= 1000 and len(corpus.source.texts) == len(corpus.target.texts) == len(examples)


def test_decode_runs_each_declared_protocol_on_the_embeddings() -> None:
    """Planted embeddings (each pair shares a direction): nearest neighbour retrieves every row; mining, with the
    threshold calibrated on the split, keeps exactly the gold pairs and not the distractors."""
    for task in (TASKS["tatoeba"], TASKS["bucc2018"]):
        fmt = FORMATS[task.format]
        examples = Dataset.from_list(fmt.generate(task, "de", 40, random.Random(1)))
        rows = fmt.encode(examples, load_tokenizer(ZOO["tiny"]), 32, task).to_list()
        corpus = fmt.corpus(examples)
        gold = sorted(corpus.gold)
        source_pair, target_pair = {s: n for n, (s, _) in enumerate(gold)}, {t: n for n, (_, t) in enumerate(gold)}
        own = iter(range(len(gold), len(rows) + len(gold)))  # a direction of its own for an unpaired sentence
        directions = [source_pair.get(i, next(own)) for i in corpus.source.ids]
        directions += [target_pair.get(i, next(own)) for i in corpus.target.ids]
        embeddings = torch.eye(len(rows) + len(gold))[directions] + 0.05  # no cosine of 0: no 0/0 margin
        threshold = fmt.calibrate(embeddings, rows, examples, task)
        metrics = METRICS[task.metric](fmt.decode(embeddings, rows, examples, task, threshold),
                                       fmt.references(examples, task, rows), "de")
        assert metrics[task.dev_key] == 100.0, task.name
    with pytest.raises(ValueError, match="bitext_mining: decoding needs the threshold `calibrate` fits on dev data"):
        fmt.decode(embeddings, rows, examples, task)
    with pytest.raises(TypeError, match="format 'bitext_mining' is never trained"):
        fmt.loss(embeddings, {})


class _RankOneOfTwo(Ranks):
    """Rank 1 of a two-rank trial whose rank 0 found no cached result (what it broadcasts)."""

    def broadcast(self, value: object) -> object:
        return None


def test_every_rank_follows_rank_zeros_cache_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A concurrent trial writes the retrieval cache between rank 0's read and rank 1's. Rank 1 must still follow
    rank 0 (which found nothing) into the embedding collectives; reading the new file itself would leave rank 0
    alone in them, a hang."""
    import raytl.pipeline.retrieval_eval as retrieval_eval

    trial = _worker(tmp_path, ["tatoeba"])
    evaluate_retrieval(trial, "tatoeba", None, _record(trial))  # the concurrent writer: the cache now exists
    (cache,) = (trial.run.root / "retrieval").iterdir()
    written = trial.run.read_json(cache)
    evaluated: list[str] = []

    def evaluate(trial: TrialContext, target: str, encoder_dir: Path | None, layer: int) -> dict:
        evaluated.append(target)
        return written

    monkeypatch.setattr(retrieval_eval, "_evaluate", evaluate)
    rank_one = replace(trial, ranks=_RankOneOfTwo(1, 2))
    record = _record(rank_one)
    evaluate_retrieval(rank_one, "tatoeba", None, record)
    assert evaluated == ["tatoeba"], "rank 1 read the cache on its own instead of following rank 0"
    assert record.progress.completed["tatoeba"].languages == written["languages"]
