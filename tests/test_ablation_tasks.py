"""The paper's ablations as intermediate tasks: machine-translated MNLI and SQuAD (generated data in every train
language, the original XNLI-MT and XTREME translate-train layouts), and MLM mixed into intermediate training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytl.config import DataConfig, parse_space
from raytl.errors import InputError
from raytl.search.plan import load_checked
from raytl.tasks import TASKS
from raytl.tasks.generate import lexicon
from raytl.tasks.loading import count_local, load_examples
from tests.conftest import ROOT, tiny_space

DATA = DataConfig(source="generated", generated_train_size=40, generated_eval_size=8)


@pytest.mark.parametrize("name,languages", [("mnli_mt", 15), ("squad_mt", 10)])
def test_translated_tasks_train_in_every_language_from_generated_data(name: str, languages: int) -> None:
    task = TASKS[name]
    assert len(task.train_languages) == languages and task.languages == ("en",)
    german = load_examples(task, "train", "de", DATA)
    text = german["text_a" if name == "mnli_mt" else "context"][0]
    assert len(german) == 40 and set(text.split()) & set(lexicon("de")), "generated in the train language"
    assert not set(text.split()) & (set(lexicon("en")) - set(lexicon("de")))
    assert len(load_examples(task, "validation", "en", DATA)) == 8  # English dev selects the checkpoint
    with pytest.raises(InputError, match="unknown language"):
        load_examples(task, "validation", "de", DATA)


def test_xnli_mt_original_tsv(tmp_path: Path) -> None:
    folder = tmp_path / "XNLI-MT-1.0" / "multinli"
    folder.mkdir(parents=True)
    (folder / "multinli.train.de.tsv").write_text(
        'premise\thypo\tlabel\nEr sagte "ja" .\tEr stimmte zu .\tentailment\nA\tB\tcontradictory\nC\tD\tneutral\n')
    data = DataConfig(source="local", dir=tmp_path)
    rows = load_examples(TASKS["mnli_mt"], "train", "de", data).to_list()
    assert rows[0] == {"text_a": 'Er sagte "ja" .', "text_b": "Er stimmte zu .", "label": 0}  # first row kept
    assert [row["label"] for row in rows] == [0, 2, 1]
    assert count_local(TASKS["mnli_mt"], tmp_path)["train"] == {"de": 3}
    (folder / "multinli.train.de.tsv").write_text("premise\thypo\tlabel\nA\tB\tmaybe\n")
    with pytest.raises(InputError, match=r"multinli.train.de.tsv: line 2: label 'maybe' of task 'mnli_mt'"):
        load_examples(TASKS["mnli_mt"], "train", "de", data)
    (folder / "multinli.train.de.tsv").write_text("premise\thypo\tlabel\nA\tB\n")
    with pytest.raises(InputError, match=r"multinli.train.de.tsv: line 2: column 'label' is missing"):
        load_examples(TASKS["mnli_mt"], "train", "de", data)
    with pytest.raises(InputError, match=r"not found: .*multinli.train.fr.tsv \(XNLI-MT-1.0"):
        load_examples(TASKS["mnli_mt"], "train", "fr", data)


def test_squad_translate_train_json(tmp_path: Path) -> None:
    context = "Berlin ist die Hauptstadt von Deutschland."
    squad = {"data": [{"title": "Berlin", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "Was ist Berlin?", "answers": [{"text": "die Hauptstadt", "answer_start": 11}]}]}]}]}
    folder = tmp_path / "translate-train"
    folder.mkdir()
    (folder / "squad.translate.train.en-de.json").write_text(json.dumps(squad))
    rows = load_examples(TASKS["squad_mt"], "train", "de", DataConfig(source="local", dir=tmp_path)).to_list()
    assert rows == [{"id": "q1", "context": context, "question": "Was ist Berlin?",
                     "answers": {"text": ["die Hauptstadt"], "answer_start": [11]}}]
    with pytest.raises(InputError, match="task 'squad_mt': no public hub copy"):
        load_examples(TASKS["squad_mt"], "train", "de", DataConfig(source="hub"))


def test_ablations_search_space_validates_and_mixes_mlm() -> None:
    space = load_checked(ROOT / "search_spaces" / "ablations.yaml")
    assert {"none", "mnli", "mnli_mt"} <= set(space.intermediate_tasks)
    mixtures = {name: space.mixtures[name].tasks for name in space.intermediate_tasks if name in space.mixtures}
    assert any(set(tasks) == {"mnli", "mlm"} for tasks in mixtures.values()), "MLM during intermediate training"
    assert any(len(tasks) >= 8 for tasks in mixtures.values()), "the all-tasks mixture"


def test_a_mixture_may_mix_mlm_and_translated_tasks(tmp_path: Path) -> None:
    space = parse_space(tiny_space(tmp_path, mixtures={"mt_mlm": {"tasks": ["mnli_mt", "mlm"]}},
                                   intermediate_tasks=["none", "mt_mlm"]),
                        intermediate_tasks=list(TASKS), targets=["xnli"])
    assert space.mixtures["mt_mlm"].tasks == ["mnli_mt", "mlm"]


@pytest.fixture
def one_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A gloo group of one process (DeepSpeed's engine needs a process group), removed afterwards."""
    from raytl.training.distributed import single_process_group

    monkeypatch.setenv("RAYTL_CACHE_DIR", str(tmp_path / "cache"))
    with single_process_group():
        yield


def test_mlm_mixture_trains_an_intermediate_phase(tmp_path: Path, one_process_group: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """MNLI + multilingual MLM as one intermediate phase on the tiny model: MLM rows come from every train language,
    both heads train, both tasks are scored on their English dev sets, and the encoder is published."""
    from raytl.pipeline import context
    from raytl.pipeline.intermediate_phase import obtain_intermediate
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.run_dir import RunDir
    from raytl.pipeline.store import PhaseStore
    from raytl.training.distributed import Ranks

    phase = {"lr": {"low": 2e-3, "high": 2e-3}, "max_steps": 6, "batch_size": 8, "max_length": 32, "eval_every": 6}
    space = parse_space(tiny_space(
        tmp_path / "runs", mixtures={"nli_mlm": {"tasks": ["mnli", "mlm"], "sampling": "temperature"}},
        intermediate_tasks=["none", "nli_mlm"], intermediate=phase, target=phase, resources={"num_workers": 1},
        data={"source": "generated", "generated_train_size": 32, "generated_eval_size": 16}))
    encoded: list[tuple[str, str, str]] = []
    real_encoded = context.encoded

    def recording(worker, task, split, lang, max_length):  # noqa: ANN001, ANN202
        encoded.append((task.name, split, lang))
        return real_encoded(worker, task, split, lang, max_length)

    monkeypatch.setattr(context, "encoded", recording)
    run = RunDir(tmp_path / "run")
    trial = context.TrialContext(space, TrialParams("tiny", "nli_mlm", 2e-3, 2e-3), Ranks(0, 1), run, "t0")
    published = obtain_intermediate(trial)

    mlm_train = {lang for task, split, lang in encoded if (task, split) == ("mlm", "train")}
    assert mlm_train == set(TASKS["mlm"].train_languages) and len(mlm_train) == 15
    assert ("mnli", "train", "en") in encoded and ("mlm", "validation", "en") in encoded
    (build,) = PhaseStore(run.phases).builds()
    assert build["task"] == "nli_mlm" and build["steps"] == 6
    assert sorted(build["dev"]) == ["mlm", "mnli"]
    assert 0 <= build["dev"]["mlm"]["accuracy"] <= 100 and 0 <= build["dev"]["mnli"]["accuracy"] <= 100
    assert (published / "model.safetensors").is_file()
