"""Per-task data sources (`data.sources`) and the original-file readers of the intermediate tasks.

Each reader is fed a few rows written in the exact layout of the original release (GLUE's TSVs with every column,
ANLI/SNLI/HellaSwag/CommonsenseQA JSON lines with their real keys) and must return the rows the hub copy of the same
examples canonicalises to, so one validation path serves both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.search.plan import describe, load_checked
from raytl.tasks import TASK_SOURCES, TASKS
from raytl.tasks.labels import GENERATED_LABELS, with_labels
from raytl.tasks.loading import canonical, count_local, load_examples
from raytl.tasks.readers import READERS
from tests.conftest import tiny_space, write_space

MNLI_TRAIN_HEADER = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                     "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label")
MNLI_DEV_HEADER = (*MNLI_TRAIN_HEADER[:-1], "label2", "label3", "label4", "label5", "gold_label")
QQP_HEADER = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")


def _tsv(path: Path, header: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header), *("\t".join(row.get(column, "x") for column in header) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def _mnli(sentence1: str, sentence2: str, gold: str) -> dict[str, str]:
    return {"sentence1": sentence1, "sentence2": sentence2, "label1": gold, "gold_label": gold, "genre": "fiction"}


def _anli(uid: str, context: str, hypothesis: str, label: str) -> dict:
    return {"uid": uid, "context": context, "hypothesis": hypothesis, "label": label, "model_label": "e",
            "emturk": False, "genre": "wiki", "reason": "because", "tag": "x"}


def _snli(sentence1: str, sentence2: str, gold: str) -> dict:
    return {"annotator_labels": ["neutral"], "captionID": "1.jpg#0", "gold_label": gold, "pairID": "1.jpg#0r1n",
            "sentence1": sentence1, "sentence1_binary_parse": "( a )", "sentence1_parse": "(ROOT)",
            "sentence2": sentence2, "sentence2_binary_parse": "( b )", "sentence2_parse": "(ROOT)"}


def _hub(task: str, split: str, table: dict[str, list], index: int = 0) -> list[dict]:
    """What the hub copy of the same examples canonicalises to."""
    source = TASKS[task].parts(split)[index]  # type: ignore[arg-type]
    return canonical(Dataset.from_dict(table), TASKS[task], source, "hub").to_list()


def _local(task: str, split: str, directory: Path) -> list[dict]:
    return load_examples(TASKS[task], split, "en", DataConfig(source="local", dir=directory)).to_list()  # type: ignore


def test_mnli_glue_tsv_train_and_dev_matched(tmp_path: Path) -> None:
    rows = [_mnli('He said "no" to it.', "He refused.", "entailment"), _mnli("A cat.", "A dog.", "contradiction")]
    _tsv(tmp_path / "MNLI" / "train.tsv", MNLI_TRAIN_HEADER, rows)
    _tsv(tmp_path / "MNLI" / "dev_matched.tsv", MNLI_DEV_HEADER, rows[::-1])
    hub = {"premise": ['He said "no" to it.', "A cat."], "hypothesis": ["He refused.", "A dog."], "label": [0, 2],
           "idx": [0, 1]}
    assert _local("mnli", "train", tmp_path) == _hub("mnli", "train", hub)
    assert _local("mnli", "validation", tmp_path) == _hub("mnli", "validation", {k: v[::-1] for k, v in hub.items()})
    raw = READERS["glue_tsv"](tmp_path / "MNLI" / "train.tsv", TASKS["mnli"], "train", "en")
    assert raw.column_names == list(TASKS["mnli"].source("train").features)
    _tsv(tmp_path / "MNLI" / "train.tsv", MNLI_TRAIN_HEADER, [_mnli("a", "b", "maybe")])
    with pytest.raises(InputError, match=r"train.tsv: line 2: label 'maybe' of task 'mnli'; allowed: entailment"):
        _local("mnli", "train", tmp_path)


def test_qqp_glue_tsv(tmp_path: Path) -> None:
    rows = [{"id": "7", "qid1": "15", "qid2": "16", "question1": "How do I learn Python?",
             "question2": "What's the best way to learn Python?", "is_duplicate": "1"},
            {"id": "8", "qid1": "17", "qid2": "18", "question1": 'Is "x" y?', "question2": "Why?", "is_duplicate": "0"}]
    _tsv(tmp_path / "QQP" / "dev.tsv", QQP_HEADER, rows)
    hub = {"question1": [r["question1"] for r in rows], "question2": [r["question2"] for r in rows],
           "label": [1, 0], "idx": [0, 1]}
    assert _local("qqp", "validation", tmp_path) == _hub("qqp", "validation", hub)
    raw = READERS["qqp_tsv"](tmp_path / "QQP" / "dev.tsv", TASKS["qqp"], "validation", "en")
    assert raw.column_names == list(TASKS["qqp"].source("validation").features)
    (tmp_path / "QQP" / "dev.tsv").write_text("\t".join(QQP_HEADER) + "\n1\t2\t3\tonly one question\n")
    with pytest.raises(InputError, match=r"dev.tsv: line 2: column 'question2' is missing \(fewer tab-separated"):
        _local("qqp", "validation", tmp_path)


def _anli_plus_files(directory: Path) -> None:
    for round_ in (1, 2, 3):
        _jsonl(directory / "anli_v1.0" / f"R{round_}" / "train.jsonl",
               [_anli(f"r{round_}-t", f"premise {round_}", f"hypothesis {round_}", "enc"[round_ - 1])])
        _jsonl(directory / "anli_v1.0" / f"R{round_}" / "dev.jsonl", [_anli(f"r{round_}-d", "p", "h", "c")])
    _tsv(directory / "MNLI" / "train.tsv", MNLI_TRAIN_HEADER, [_mnli("mnli p", "mnli h", "neutral")])
    _jsonl(directory / "snli_1.0" / "snli_1.0_train.jsonl",
           [_snli("snli p", "snli h", "contradiction"), _snli("no", "majority", "-"), _snli("s", "t", "entailment")])


def test_anli_plus_reads_every_original_file_in_the_hub_order(tmp_path: Path) -> None:
    _anli_plus_files(tmp_path)
    rows = _local("anli_plus", "train", tmp_path)
    # ANLI r1, r2, r3 (e, n, c), MNLI, SNLI without its no-majority row: the hub path's order and filtering
    assert [(row["text_a"], row["label"]) for row in rows] == [
        ("premise 1", 0), ("premise 2", 1), ("premise 3", 2), ("mnli p", 1), ("snli p", 2), ("s", 0)]
    anli = {"uid": ["r1-t"], "premise": ["premise 1"], "hypothesis": ["hypothesis 1"], "label": [0],
            "reason": ["because"]}
    assert rows[:1] == _hub("anli_plus", "train", anli)
    assert rows[-2:] == _hub("anli_plus", "train", {"premise": ["snli p", "s"], "hypothesis": ["snli h", "t"],
                                                    "label": [2, 0]}, index=4)
    assert [row["label"] for row in _local("anli_plus", "validation", tmp_path)] == [2, 2, 2]
    for split in ("train", "validation"):
        for local, source in zip(TASKS["anli_plus"].local_parts(split), TASKS["anli_plus"].parts(split), strict=True):
            raw = READERS[local.reader](tmp_path / local.path, TASKS["anli_plus"], split, "en")
            assert raw.column_names == list(source.features), local.path
    assert count_local(TASKS["anli_plus"], tmp_path) == {"train": {"en": 6}, "validation": {"en": 3}}


def test_anli_plus_names_the_file_and_line_of_a_bad_record(tmp_path: Path) -> None:
    _anli_plus_files(tmp_path)
    _jsonl(tmp_path / "anli_v1.0" / "R2" / "train.jsonl", [_anli("a", "p", "h", "e"), _anli("b", "p", "h", "x")])
    with pytest.raises(InputError, match=r"R2/train.jsonl: line 2: label 'x'; allowed: e, n, c"):
        _local("anli_plus", "train", tmp_path)
    _anli_plus_files(tmp_path)
    (tmp_path / "snli_1.0" / "snli_1.0_train.jsonl").unlink()
    with pytest.raises(InputError, match=r"not found: .*snli_1.0_train.jsonl \(SNLI 1.0"):
        _local("anli_plus", "train", tmp_path)
    (tmp_path / "anli_v1.0" / "R1" / "dev.jsonl").write_text('{"uid": "a", "context": "p"}\n')
    with pytest.raises(InputError, match=r"R1/dev.jsonl: line 1: 'label' is missing; found: uid, context"):
        _local("anli_plus", "validation", tmp_path)
    (tmp_path / "anli_v1.0" / "R1" / "dev.jsonl").write_text(json.dumps(_anli("a", "p", "h", "e")) + "\n{broken\n")
    with pytest.raises(InputError, match=r"R1/dev.jsonl: line 2: invalid JSON"):
        _local("anli_plus", "validation", tmp_path)


HELLASWAG = [
    {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow.",
     "ctx_b": "then", "ctx": "Then, the man writes over the snow. then",
     "endings": [", the man adds wax.", ", he stops.", "the man sprays the car.", "he walks away."],
     "source_id": "activitynet~v_-1IBHYS3L-Y", "split": "train", "split_type": "indomain", "label": 3},
    {"ind": 9, "activity_label": "Baking cookies", "ctx_a": "A tray is set down.", "ctx_b": "", "ctx":
     "A tray is set down.", "endings": ["a", "b", "c", "d"], "source_id": "wikihow~1", "split": "train",
     "split_type": "zeroshot", "label": 0},
]


def test_hellaswag_original_jsonl(tmp_path: Path) -> None:
    _jsonl(tmp_path / "hellaswag" / "hellaswag_val.jsonl", HELLASWAG)
    rows = _local("hellaswag", "validation", tmp_path)
    hub = {key: [record[key] for record in HELLASWAG] for key in HELLASWAG[0]}
    assert rows == _hub("hellaswag", "validation", {**hub, "label": ["3", "0"]})  # the hub stores "0".."3"
    assert rows[0]["choices"][3] == "then he walks away." and rows[1]["choices"][0] == "a"
    raw = READERS["hellaswag_jsonl"](tmp_path / "hellaswag" / "hellaswag_val.jsonl", TASKS["hellaswag"], "", "en")
    assert raw.column_names == list(TASKS["hellaswag"].source("validation").features)
    _jsonl(tmp_path / "hellaswag" / "hellaswag_val.jsonl", [{**HELLASWAG[0], "label": "3"}])
    with pytest.raises(InputError, match=r"hellaswag_val.jsonl: line 1: 'label' is a str; expected a int"):
        _local("hellaswag", "validation", tmp_path)


COMMONSENSEQA = [
    {"answerKey": "B", "id": "70701f5d1d62e58d5c74e2e303bb4065",
     "question": {"question_concept": "sitting quietly", "choices": [
         {"label": "A", "text": "bunk"}, {"label": "B", "text": "reading"}, {"label": "C", "text": "think"},
         {"label": "D", "text": "fall asleep"}, {"label": "E", "text": "meditate"}],
         "stem": "What is someone doing if he or she is sitting quietly and his or her eyes are moving?"}},
    {"answerKey": "A", "id": "q2", "question": {"question_concept": "c", "choices": [  # labels not in A-E order
        {"label": "C", "text": "x"}, {"label": "A", "text": "y"}, {"label": "B", "text": "z"},
        {"label": "D", "text": "u"}, {"label": "E", "text": "v"}], "stem": "Which?"}},
]


def test_commonsenseqa_original_jsonl(tmp_path: Path) -> None:
    _jsonl(tmp_path / "commonsenseqa" / "train_rand_split.jsonl", COMMONSENSEQA)
    rows = _local("commonsenseqa", "train", tmp_path)
    hub = {"id": [r["id"] for r in COMMONSENSEQA], "question": [r["question"]["stem"] for r in COMMONSENSEQA],
           "question_concept": [r["question"]["question_concept"] for r in COMMONSENSEQA],
           "choices": [{"label": [c["label"] for c in r["question"]["choices"]],
                        "text": [c["text"] for c in r["question"]["choices"]]} for r in COMMONSENSEQA],
           "answerKey": [r["answerKey"] for r in COMMONSENSEQA]}
    assert rows == _hub("commonsenseqa", "train", hub)
    assert [row["label"] for row in rows] == [1, 1]
    _jsonl(tmp_path / "commonsenseqa" / "dev_rand_split.jsonl", [{"answerKey": "A", "id": "x", "question": "Why?"}])
    with pytest.raises(InputError, match=r"dev_rand_split.jsonl: line 1: 'question' is a str; expected a dict"):
        _local("commonsenseqa", "validation", tmp_path)


def test_every_task_has_original_files_and_every_local_split_pairs_with_its_sources() -> None:
    for name, task in TASKS.items():
        assert "local" in TASK_SOURCES[name] and "generated" in TASK_SOURCES[name], name
        for split in task.local:
            assert len(task.local_parts(split)) == len(task.parts(split)), (name, split)  # type: ignore[arg-type]
    assert TASK_SOURCES["ccg"] == ("local", "generated")
    assert TASK_SOURCES["mnli"] == ("hub", "local", "generated")


def test_loading_picks_each_tasks_own_source(tmp_path: Path) -> None:
    _tsv(tmp_path / "MNLI" / "dev_matched.tsv", MNLI_DEV_HEADER, [_mnli("p", "h", "neutral")])
    data = DataConfig(source="generated", generated_eval_size=8, sources={"mnli": "local"}, dir=tmp_path)
    assert load_examples(TASKS["mnli"], "validation", "en", data).to_list() == [
        {"text_a": "p", "text_b": "h", "label": 1}]
    assert len(load_examples(TASKS["xnli"], "validation", "de", data)) == 8  # the default: generated
    assert with_labels(TASKS["ccg"], DataConfig(source="hub", sources={"ccg": "generated"})).labels == GENERATED_LABELS
    with pytest.raises(InputError, match=r"no public hub copy.*data.sources.ccg: local"):
        with_labels(TASKS["ccg"], DataConfig(source="generated", sources={"ccg": "hub"}))


EDGE = [
    ("override without a reader", {"source": "hub", "sources": {"ccg": "hub"}},
     "data.sources.ccg: task 'ccg' has no hub copy; allowed: local, generated"),
    ("default without a reader", {"source": "hub"},
     "data.source: hub applies to searched task 'ccg', but task 'ccg' has no hub copy; allowed: data.sources.ccg: "
     "local or generated"),
    ("unknown task", {"source": "generated", "sources": {"cgg": "local"}, "dir": "d"},
     "data.sources: unknown task 'cgg'; allowed: mnli, qqp"),
    ("unknown source", {"source": "generated", "sources": {"ccg": "s3"}},
     "data.sources.ccg: Input should be 'hub', 'local' or 'generated'"),
    ("local override without dir", {"source": "generated", "sources": {"ccg": "local"}},
     "data: sources.ccg: local needs dir; allowed: a directory"),
]


@pytest.mark.parametrize("case,data,message", EDGE, ids=[case[0] for case in EDGE])
def test_sources_are_refused_at_the_edge(tmp_path: Path, case: str, data: dict, message: str) -> None:
    path = write_space(tmp_path / "bad.yaml", tiny_space(tmp_path / "runs", intermediate_tasks=["none", "ccg"],
                                                         data=data))
    with pytest.raises(InputError) as error:
        load_checked(path)
    text = str(error.value)
    assert text.startswith(f"{path}: {message}") and "\n" not in text


def test_a_mixture_member_without_a_reader_is_refused(tmp_path: Path) -> None:
    space = tiny_space(tmp_path / "runs", intermediate_tasks=["none", "syntax"], data={"source": "hub"},
                       mixtures={"syntax": {"tasks": ["mnli", "ccg"]}})
    with pytest.raises(InputError, match=r"data.source: hub applies to searched task 'ccg'"):
        load_checked(write_space(tmp_path / "bad.yaml", space))


def test_plan_exits_2_with_one_line_and_shows_each_tasks_source(tmp_path: Path) -> None:
    bad = write_space(tmp_path / "bad.yaml", tiny_space(tmp_path / "runs", intermediate_tasks=["none", "ccg"],
                                                        data={"source": "hub", "sources": {"ccg": "hub"}}))
    done = subprocess.run([sys.executable, "-m", "raytl", "plan", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"error: {bad}: data.sources.ccg: task 'ccg' has no hub copy; allowed: local, generated"]
    good = tiny_space(tmp_path / "runs", intermediate_tasks=["none", "ccg"], targets=["xnli", "bucc2018"],
                      data={"source": "hub", "sources": {"ccg": "local", "bucc2018": "local"}, "dir": "/data/x"})
    lines = describe(load_checked(write_space(tmp_path / "good.yaml", good))).splitlines()
    start = lines.index("  data (default hub, dir /data/x), per task:")
    assert lines[start + 1:start + 4] == [
        "    ccg: local (/data/x/ccg/train.tsv, /data/x/ccg/dev.tsv, /data/x/ccg/tags.txt)",
        "    xnli: hub (nyu-mll/glue, google/xtreme)",
        "    bucc2018: local (/data/x/bucc2018/{lang}-en.sample.gold, /data/x/bucc2018/{lang}-en.training.gold)"]


def test_a_space_without_overrides_dumps_as_before_so_phase_ids_stay() -> None:
    assert list(DataConfig().model_dump(mode="json")) == [
        "source", "dir", "generated_train_size", "generated_eval_size", "max_eval_examples"]
    assert DataConfig(sources={"ccg": "local"}, dir="d").model_dump(mode="json")["sources"] == {"ccg": "local"}
