"""Span QA: windows and stride, offsets, n-best decoding, SQuAD v2 null answers, generated data, readers, and a
tiny model that learns generated QA on CPU. One optional test reads the genuine XQuAD files."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.formats.span_qa import FORMAT, SpanQA, answer_positions, unpack_offsets
from raytl.tasks.generate import lexicon, render
from raytl.tasks.loading import load_examples
from raytl.tasks.metrics import squad
from raytl.training.batching import collate

QA_TASKS = ["squadv2", "xquad", "mlqa", "tydiqa"]
SHARED_XQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "xquad"
V1 = TASKS["xquad"]
V2 = TASKS["squadv2"]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    return load_tokenizer(ZOO["tiny"])


def _examples(context: str, question: str, answer: str | None) -> Dataset:
    answers = {"text": [], "answer_start": []}
    if answer:
        answers = {"text": [answer], "answer_start": [context.index(answer)]}
    return Dataset.from_list([{"id": "q", "context": context, "question": question, "answers": answers}])


def _context_ids(row: dict) -> list[int]:
    offsets = unpack_offsets(row["offsets"])
    return [token for token, (start, _) in zip(row["input_ids"], offsets, strict=True) if start >= 0]


def _answer_text(row: dict, context: str) -> str:
    offsets = unpack_offsets(row["offsets"])
    return context[offsets[row["start_positions"], 0] : offsets[row["end_positions"], 1]].strip()


# --- encoding: windows, stride, question cap, offsets ---


def test_an_answer_in_a_later_window_is_found_and_earlier_windows_point_at_index_0(tokenizer) -> None:
    words = list(lexicon("en")[:80])
    context = " ".join(words)
    answer = " ".join(words[60:62])
    rows = SpanQA(doc_stride=8).encode(_examples(context, "where", answer), tokenizer, 32, V1).to_list()
    assert len(rows) >= 4 and {row["example_index"] for row in rows} == {0}
    holding = [row for row in rows if row["start_positions"] > 0]
    assert holding and all(_answer_text(row, context) == answer for row in holding)
    assert rows[0]["start_positions"] == rows[0]["end_positions"] == 0
    assert all(0 < row["start_positions"] <= row["end_positions"] < len(row["input_ids"]) for row in holding)


def test_windows_step_by_doc_stride_and_together_cover_the_whole_context(tokenizer) -> None:
    context = " ".join(lexicon("de")[:120])
    rows = SpanQA(doc_stride=10).encode(_examples(context, "what", None), tokenizer, 48, V1).to_list()
    windows = [_context_ids(row) for row in rows]
    assert all(len(row["input_ids"]) <= 48 for row in rows)
    for first, second in zip(windows, windows[1:], strict=False):
        assert second[: len(first) - 10] == first[10:]  # the next window starts 10 tokens later
    overlap = len(windows[0]) - 10
    rebuilt = windows[0] + [token for window in windows[1:] for token in window[overlap:]]
    assert rebuilt == tokenizer(context, add_special_tokens=False)["input_ids"]
    covered = np.zeros(len(context), dtype=bool)
    for row in rows:
        for start, end in unpack_offsets(row["offsets"]):
            covered[max(start, 0) : end] = True
    assert all(covered[i] for i, ch in enumerate(context) if not ch.isspace())


def test_the_step_shrinks_to_half_a_window_when_the_window_is_shorter_than_the_stride(tokenizer) -> None:
    context = " ".join(lexicon("en")[:60])
    rows = FORMAT.encode(_examples(context, "what", None), tokenizer, 32, V1).to_list()  # doc stride 128 > window
    first, second = _context_ids(rows[0]), _context_ids(rows[1])
    step = len(first) // 2
    assert second[: len(first) - step] == first[step:]


def test_the_question_comes_first_and_is_capped_at_max_query_tokens(tokenizer) -> None:
    question = " ".join(lexicon("en")[200:260])
    context = " ".join(lexicon("en")[:20])
    fmt = SpanQA(max_query_tokens=8)
    row = fmt.encode(_examples(context, "   " + question, lexicon("en")[5]), tokenizer, 64, V1).to_list()[0]
    first_sep = row["input_ids"].index(tokenizer.sep_token_id)
    assert row["input_ids"][0] == tokenizer.cls_token_id and first_sep - 1 == 8
    assert row["input_ids"][1:first_sep] == tokenizer(question, add_special_tokens=False)["input_ids"][:8]
    assert _answer_text(row, context) == lexicon("en")[5]


def test_a_window_too_short_for_any_context_is_an_error(tokenizer) -> None:
    with pytest.raises(ValueError, match="max_length 6 leaves"):
        FORMAT.encode(_examples("a b c", "what is it", None), tokenizer, 6, V1)


def test_answer_positions_need_the_whole_answer_inside_the_window() -> None:
    offsets = np.array([[-1, -1], [-1, -1], [0, 4], [4, 9], [10, 14], [-1, -1]], dtype=np.int32)
    assert answer_positions(offsets, {"text": ["four"], "answer_start": [10]}) == (4, 4)
    assert answer_positions(offsets, {"text": ["ey fiv"], "answer_start": [2]}) == (2, 3)  # mid-token edges
    assert answer_positions(offsets, {"text": ["four five"], "answer_start": [10]}) == (0, 0)  # runs past the end
    assert answer_positions(offsets, {"text": [], "answer_start": []}) == (0, 0)  # SQuAD v2 unanswerable


def test_offsets_slice_the_gold_answer_in_every_language(tokenizer) -> None:
    for lang in ["en", "de", "zh", "th"]:
        examples = load_examples(V1, "test", lang, DataConfig(source="generated", generated_eval_size=40))
        rows = FORMAT.encode(examples, tokenizer, 64, V1).to_list()
        found = {row["example_index"] for row in rows if row["start_positions"] > 0}
        assert found == set(range(len(examples))), lang  # every answer lies whole inside some window
        for row in rows:
            if row["start_positions"] > 0:
                example = examples[row["example_index"]]
                assert _answer_text(row, example["context"]) == example["answers"]["text"][0]


# --- head, loss, decoding ---


def test_the_loss_is_the_mean_start_end_cross_entropy_and_ignores_padding() -> None:
    logits = torch.randn(2, 5, 2)
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
             "start_positions": torch.tensor([1, 2]), "end_positions": torch.tensor([3, 2])}
    padded = logits.clone()
    padded[1, 3:] = 100.0  # padding logits must not matter
    loss = FORMAT.loss(padded, batch)
    start = (torch.nn.functional.cross_entropy(logits[0:1, :, 0], batch["start_positions"][:1])
             + torch.nn.functional.cross_entropy(logits[1:, :3, 0], batch["start_positions"][1:])) / 2
    end = (torch.nn.functional.cross_entropy(logits[0:1, :, 1], batch["end_positions"][:1])
           + torch.nn.functional.cross_entropy(logits[1:, :3, 1], batch["end_positions"][1:])) / 2
    assert torch.allclose(loss, (start + end) / 2, atol=1e-5)
    head = FORMAT.head(SimpleNamespace(hidden_size=8, vocab_size=16), V1)
    assert head(torch.zeros(3, 7, 8), {}).shape == (3, 7, 2)


CONTEXT = "alpha beta gamma delta epsilon"
# <s> question </s></s> alpha beta gamma delta epsilon </s>
OFFSETS = np.array([[-1, -1], [-1, -1], [-1, -1], [-1, -1], [0, 5], [5, 10], [10, 16], [16, 22], [22, 30], [-1, -1]],
                   dtype=np.int32)


def _logits(start: dict[int, float], end: dict[int, float], size: int = 10) -> np.ndarray:
    logits = np.zeros((size, 2), dtype=np.float32)
    for index, value in start.items():
        logits[index, 0] = value
    for index, value in end.items():
        logits[index, 1] = value
    return logits


def test_decoding_picks_the_best_valid_span_and_slices_it_from_the_context() -> None:
    logits = _logits({5: 5.0, 3: 9.0}, {6: 4.0, 2: 9.0})  # the question/special tokens are never candidates
    assert FORMAT.answer([(logits, OFFSETS)], CONTEXT, no_answer=False) == "beta gamma"
    backwards = _logits({7: 5.0, 4: 1.0}, {5: 5.0, 8: 1.0})  # an end before its start is not a span
    assert FORMAT.answer([(backwards, OFFSETS)], CONTEXT, no_answer=False) == "delta epsilon"


def test_max_answer_tokens_and_n_best_limit_the_candidates() -> None:
    logits = _logits({4: 5.0, 7: 1.0}, {8: 5.0, 7: 1.0})
    assert FORMAT.answer([(logits, OFFSETS)], CONTEXT, no_answer=False) == "alpha beta gamma delta epsilon"
    assert SpanQA(max_answer_tokens=2).answer([(logits, OFFSETS)], CONTEXT, no_answer=False) == "delta epsilon"
    ranked = SpanQA(n_best=3).n_best_answers([(logits, OFFSETS)], CONTEXT)
    assert [text for _, text in ranked] == ["alpha beta gamma delta epsilon", "alpha beta gamma delta", "delta epsilon"]
    assert [score for score, _ in ranked] == sorted((score for score, _ in ranked), reverse=True)


def test_the_best_span_over_all_windows_wins_and_padding_is_trimmed() -> None:
    weak, strong = _logits({4: 2.0}, {4: 2.0}), _logits({6: 3.0}, {7: 3.0})
    assert FORMAT.answer([(weak, OFFSETS), (strong, OFFSETS)], CONTEXT, no_answer=False) == "gamma delta"
    padded = torch.from_numpy(np.concatenate([weak, np.full((3, 2), 50.0, dtype=np.float32)]))
    rows = [{"input_ids": [0] * 10, "example_index": 0, "offsets": OFFSETS.tobytes()}]
    examples = Dataset.from_list([{"id": "q1", "context": CONTEXT, "question": "?",
                                   "answers": {"text": ["alpha"], "answer_start": [0]}}])
    assert FORMAT.decode([padded], rows, examples, V1) == {"q1": "alpha"}


def test_squad_v2_answers_nothing_when_the_null_score_beats_the_best_span() -> None:
    null_wins = _logits({0: 4.0, 5: 1.0}, {0: 4.0, 5: 1.0})
    assert FORMAT.answer([(null_wins, OFFSETS)], CONTEXT, no_answer=True) == ""
    assert FORMAT.answer([(null_wins, OFFSETS)], CONTEXT, no_answer=False) == "beta"  # SQuAD v1.1 always answers
    assert SpanQA(null_threshold=10.0).answer([(null_wins, OFFSETS)], CONTEXT, no_answer=True) == "beta"
    span_wins = _logits({0: 1.0, 5: 4.0}, {0: 1.0, 5: 4.0})
    assert FORMAT.answer([(span_wins, OFFSETS)], CONTEXT, no_answer=True) == "beta"
    # the null score is the smallest over the windows: one window that sees the answer is enough
    assert FORMAT.answer([(null_wins, OFFSETS), (_logits({5: 3.0}, {5: 3.0}), OFFSETS)], CONTEXT, True) == "beta"


def test_decode_references_and_submission_speak_the_qa_metrics_and_xtreme_layout(tokenizer) -> None:
    examples = load_examples(V2, "validation", "en", DataConfig(source="generated", generated_eval_size=30))
    rows = FORMAT.encode(examples, tokenizer, 48, V2).to_list()
    gold = [torch.from_numpy(_logits({row["start_positions"]: 9.0}, {row["end_positions"]: 9.0},
                                     len(row["input_ids"]))) for row in rows]
    predictions = FORMAT.decode(gold, rows, examples, V2)
    references = FORMAT.references(examples, V2)
    assert list(predictions) == list(references) == examples["id"]
    assert any(not answers for answers in references.values())  # unanswerable questions decode to ""
    assert FORMAT.references(examples, V2) and TASKS["squadv2"].dev_key == "f1"
    from raytl.tasks.metrics import METRICS

    assert METRICS[V2.metric](predictions, references)["exact"] == 100.0
    suffix, text = FORMAT.submission(predictions, examples)
    assert suffix == ".json" and json.loads(text) == predictions


# --- generated data ---


@pytest.mark.parametrize("name", QA_TASKS)
def test_generated_rows_use_the_exact_hub_schema_of_every_split(name: str) -> None:
    task = TASKS[name]
    assert FORMATS[task.format] is FORMAT and task.dev_key == "f1"
    for split, source in task.sources.items():
        lang = "en" if split == "train" else task.languages[0]
        table = render(FORMAT.generate(task, lang, 30, random.Random(0)), source, task, lang)
        assert list(table) == list(source.features), (name, split)
        for column, dtype in source.features.items():
            if dtype == "string":
                assert all(isinstance(value, str) for value in table[column]), (name, split, column)
        for context, answers in zip(table["context"], table["answers"], strict=True):
            assert set(answers) == {"text", "answer_start"}
            for text, start in zip(answers["text"], answers["answer_start"], strict=True):
                assert isinstance(start, int) and context[start : start + len(text)] == text
        unanswerable = sum(not answers["text"] for answers in table["answers"])
        assert (unanswerable > 0) == (task.metric == "squad_v2"), (name, split)


def test_every_qa_task_loads_generated_rows_in_every_language() -> None:
    data = DataConfig(source="generated", generated_train_size=16, generated_eval_size=8)
    for name in QA_TASKS:
        task = TASKS[name]
        for split in task.sources:
            for lang in ["en"] if split == "train" else task.languages:
                examples = load_examples(task, split, lang, data)
                assert examples.column_names == list(FORMAT.canonical_columns) and len(examples) > 0
    tydiqa = load_examples(TASKS["tydiqa"], "test", "sw", data)
    assert all(qid.startswith("swahili-") for qid in tydiqa["id"])


def test_some_generated_contexts_need_two_windows_at_max_length_384(tokenizer) -> None:
    examples = load_examples(V1, "test", "de", DataConfig(source="generated", generated_eval_size=100))
    windows = Counter(FORMAT.encode(examples, tokenizer, 384, V1)["example_index"])
    assert 5 <= sum(count >= 2 for count in windows.values()) <= 50


# --- original files ---


def _squad_file(path: Path, questions: list[tuple[str, str, int | None]], context: str = "Paris is in France.") -> Path:
    qas = [{"id": qid, "question": "Where?", "answers": [{"text": text, "answer_start": start}] if text else []}
           for qid, text, start in questions]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": context,
                                                                                           "qas": qas}]}]}))
    return path


def test_local_readers_read_squad_xquad_mlqa_and_tydiqa_layouts(tmp_path: Path) -> None:
    _squad_file(tmp_path / "train-v2.0.json", [("a", "Paris", 0), ("b", "", None)])
    _squad_file(tmp_path / "xquad.de.json", [("c", "France", 12)])
    _squad_file(tmp_path / "MLQA_V1/test/test-context-hi-question-hi.json", [("d", "France", 12)])
    _squad_file(tmp_path / "tydiqa-goldp-v1.1-dev.json", [("arabic-1", "Paris", 0), ("english-2", "France", 12)])
    data = DataConfig(source="local", dir=tmp_path)
    squad_v2 = load_examples(V2, "train", "en", data)
    assert squad_v2["answers"] == [{"text": ["Paris"], "answer_start": [0]}, {"text": [], "answer_start": []}]
    assert load_examples(V1, "test", "de", data)[0]["answers"]["text"] == ["France"]
    assert load_examples(TASKS["mlqa"], "test", "hi", data)["id"] == ["d"]
    assert load_examples(TASKS["tydiqa"], "test", "ar", data)["id"] == ["arabic-1"]
    assert load_examples(TASKS["tydiqa"], "test", "en", data)["id"] == ["english-2"]
    # GoldP's dev set is its test set: selection reads SQuAD v1.1 dev, never a GoldP row
    _squad_file(tmp_path / "dev-v1.1.json", [("squad-dev-1", "Paris", 0)])
    assert load_examples(TASKS["tydiqa"], "validation", "en", data)["id"] == ["squad-dev-1"]


@pytest.mark.parametrize(("content", "message"), [
    ('{"data": [\n{"title": ', r"xquad\.de\.json:2: invalid JSON"),
    ('{"version": "1.1"}', r'not SQuAD JSON: expected an object with a "data" list'),
    ('{"data": [{"title": "T"}]}', r"data\[0\]: 'paragraphs' is missing"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "q7", "question": "?"}]}]}]}',
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\] \(question 'q7'\): 'answers' is missing"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "q7", "question": "?", '
     '"answers": [{"text": "b", "answer_start": "1"}]}]}]}]}', r"'answer_start' is a str; expected a int"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "q7", "question": "?", '
     '"answers": [{"text": "bc", "answer_start": 2}]}]}]}]}', r"answer_start 2 with a 2-character answer is outside"),
    ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "q7", "question": "?", "answers": []}, '
     '{"id": "q7", "question": "?", "answers": []}]}]}]}', r"question id 'q7' appears twice"),
    ('{"data": []}', r"no questions"),
])
def test_malformed_squad_files_name_the_file_and_the_fault(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "xquad.de.json").write_text(content)
    with pytest.raises(InputError, match=message) as error:
        load_examples(V1, "test", "de", DataConfig(source="local", dir=tmp_path))
    assert str(tmp_path / "xquad.de.json") in str(error.value)


# --- learning ---


def test_a_tiny_model_learns_generated_qa_far_above_a_trivial_baseline(tokenizer) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model is faster on one thread than on an oversubscribed machine
    try:
        f1, baseline = _train_and_score(tokenizer, steps=300)
    finally:
        torch.set_num_threads(threads)
    assert f1 > 60 and baseline < 10, (f1, baseline)


def _train_and_score(tokenizer: PreTrainedTokenizerBase, steps: int) -> tuple[float, float]:
    data = DataConfig(source="generated", generated_train_size=512, generated_eval_size=60)
    rows = FORMAT.encode(load_examples(V1, "train", "en", data), tokenizer, 48, V1).to_list()
    torch.manual_seed(0)
    encoder = build_encoder(ZOO["tiny"], tokenizer, seed=0)
    model = TaskModel(encoder, FORMAT.head(encoder.config, V1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    for _ in range(steps):
        batch = collate(rng.sample(rows, 16), tokenizer.pad_token_id, FORMAT.batch_columns)
        loss = FORMAT.loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    examples = load_examples(V1, "test", "en", data)
    features = FORMAT.encode(examples, tokenizer, 48, V1).to_list()
    model.eval()
    with torch.no_grad():
        logits = [model(collate(features[i : i + 32], tokenizer.pad_token_id)) for i in range(0, len(features), 32)]
    predictions = FORMAT.decode([row for part in logits for row in part], features, examples, V1)
    references = FORMAT.references(examples, V1)
    contexts = zip(examples["id"], examples["context"], strict=True)
    first_words = {qid: " ".join(context.split()[:2]) for qid, context in contexts}
    return squad(predictions, references)["f1"], squad(first_words, references)["f1"]


# --- genuine data (optional) ---


@pytest.mark.skipif(not SHARED_XQUAD.is_dir(), reason=f"genuine XQuAD files not present at {SHARED_XQUAD}")
def test_the_reader_reads_the_genuine_xquad_files() -> None:
    data = DataConfig(source="local", dir=SHARED_XQUAD)
    for lang in V1.languages:
        examples = load_examples(V1, "test", lang, data)
        assert len(examples) == 1190, lang
        for context, answers in zip(examples["context"], examples["answers"], strict=True):
            assert answers["text"], lang
            for text, start in zip(answers["text"], answers["answer_start"], strict=True):
                assert context[start : start + len(text)] == text, lang
