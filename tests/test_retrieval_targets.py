"""BUCC and Tatoeba as targets: loaded in the real layouts, evaluated once per encoder, written for `raytl score`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from raytl.config import DataConfig, parse_space
from raytl.errors import InputError
from raytl.pipeline.phases import Progress, TrialParams, Worker
from raytl.pipeline.retrieval_eval import evaluate_retrieval
from raytl.pipeline.run_dir import RunDir
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.loading import load_examples
from raytl.training.engine import Ranks
from tests.conftest import tiny_space

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))


def _worker(tmp_path: Path, targets: list[str]) -> Worker:
    space = parse_space(tiny_space(tmp_path, targets=targets, data={
        "source": "generated", "generated_train_size": 64, "generated_eval_size": 60}))
    return Worker(space, TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1), RunDir(tmp_path / "run"), "t0")


def test_retrieval_targets_are_scored_once_per_encoder(tmp_path: Path) -> None:
    worker, progress, reports = _worker(tmp_path, ["tatoeba", "bucc2018"]), Progress(), []
    for target in ("tatoeba", "bucc2018"):
        evaluate_retrieval(worker, target, None, progress, lambda extra, ckpt: reports.append(extra))
    tatoeba, bucc = progress.completed["tatoeba"], progress.completed["bucc2018"]
    assert sorted(tatoeba.languages) == sorted(TASKS["tatoeba"].languages)
    # shared sub-word stems make even an untrained tiny encoder retrieve far above chance (1/60)
    assert tatoeba.languages["de"]["accuracy"] > 4 * 100 / 60
    assert set(bucc.languages["de"]) == {"f1", "precision", "recall"} and bucc.score > 0
    assert reports[0]["retrieval_layer"] == 1  # the middle of 2 layers, recorded
    predictions = worker.run.predictions("t0")
    assert len((predictions / "tatoeba" / "test-de.tsv").read_text().splitlines()) == 60
    assert all("\t" in line for line in (predictions / "bucc2018" / "test-fr.tsv").read_text().splitlines())
    cached = sorted(p.name for p in (worker.run.root / "retrieval").iterdir())
    assert cached == ["base-tiny-seed0-bucc2018-layer1.json", "base-tiny-seed0-tatoeba-layer1.json"]

    again = Progress()
    evaluate_retrieval(worker, "tatoeba", None, again, lambda extra, ckpt: None)
    assert again.completed["tatoeba"].languages == tatoeba.languages and again.completed["tatoeba"].dev == tatoeba.dev


def test_retrieval_selects_on_dev_data_only(tmp_path: Path) -> None:
    """BUCC selects on its sample (dev) release, Tatoeba (no dev data of its own) on BUCC's: never on test."""
    worker, progress = _worker(tmp_path, ["tatoeba", "bucc2018"]), Progress()
    for target in ("tatoeba", "bucc2018"):
        evaluate_retrieval(worker, target, None, progress, lambda extra, ckpt: None)
    tatoeba, bucc = progress.completed["tatoeba"], progress.completed["bucc2018"]
    assert sorted(bucc.dev_languages) == ["de", "fr", "ru", "zh"] and math.isfinite(bucc.dev) and bucc.dev > 0
    assert tatoeba.dev == bucc.dev and tatoeba.dev_languages == bucc.dev_languages
    assert bucc.dev != bucc.score  # dev (sample release) and test (training release) are different data


def test_bucc_original_files_keep_distractors(tmp_path: Path) -> None:
    folder = tmp_path / "bucc2018"
    folder.mkdir()
    (folder / "de-en.training.de").write_text("de-1\tHallo Welt\nde-2\tNur hier\nde-3\tHallo Welt\n")
    (folder / "de-en.training.en").write_text("en-1\tHello world\nen-2\tOnly here\n")
    (folder / "de-en.training.gold").write_text("de-1\ten-1\n")
    examples = load_examples(TASKS["bucc2018"], "test", "de", DataConfig(source="local", dir=tmp_path))
    corpus = FORMATS["retrieval"].corpus(examples)
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
        corpus = FORMATS["retrieval"].corpus(examples)
        assert 0 < len(examples) <= 1000 and len(corpus.source.texts) == len(corpus.target.texts) == len(examples)
