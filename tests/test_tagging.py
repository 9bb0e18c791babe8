"""The tagging format (first sub-word labelled, long sentences segmented and re-joined) and its readers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.conllu import read_conllu
from raytl.tasks.formats.base import IGNORE_INDEX
from raytl.tasks.formats.tagging import FORMAT, TokenHead, segments, word_pieces
from raytl.tasks.labels import with_labels
from raytl.tasks.loading import load_examples
from raytl.tasks.metrics import METRICS
from raytl.tasks.scoring import score_file
from raytl.training.batching import collate

UDPOS, PANX = TASKS["udpos"], TASKS["panx"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ZOO["tiny"])


def _examples(sentences: list[list[str]], tags: list[list[int]]) -> Dataset:
    return Dataset.from_dict({"tokens": sentences, "tags": tags})


def _gold_logits(features: Dataset, num_labels: int) -> list[torch.Tensor]:
    """Logits that put the gold tag first at every labelled position, right-padded as `predict` returns them."""
    out = []
    for labels in features["labels"]:
        logit = torch.zeros(len(labels) + 3, num_labels)
        for position, tag in enumerate(labels):
            if tag != IGNORE_INDEX:
                logit[position, tag] = 1.0
        out.append(logit)
    return out


def test_only_the_first_sub_word_of_each_word_is_labelled(tokenizer) -> None:
    words = ["vuvidi", "zazezizozuzazezizozu", "ba"]
    encoded = tokenizer([words], is_split_into_words=True, add_special_tokens=False)
    pieces = [encoded.word_ids(0).count(i) for i in range(3)]
    assert pieces[1] > 1  # the long made-up word really splits
    feature = FORMAT.encode(_examples([words], [[0, 1, 2]]), tokenizer, 64, UDPOS)[0]
    labelled = [(i, t) for i, t in enumerate(feature["labels"]) if t != IGNORE_INDEX]
    assert labelled == list(zip(feature["word_positions"], [0, 1, 2], strict=True))
    assert feature["word_positions"] == [1, 1 + pieces[0], 1 + pieces[0] + pieces[1]]
    assert len(feature["input_ids"]) == len(feature["labels"]) == sum(pieces) + 2


def test_long_sentence_is_split_at_word_boundaries_and_rejoined_exactly(tokenizer) -> None:
    rng = random.Random(0)
    rows = FORMAT.generate(UDPOS, "de", 3, rng)
    long_words = [w for row in rows for w in row["tokens"]] * 4
    long_tags = [rng.randrange(len(UDPOS.labels)) for _ in long_words]
    examples = _examples([rows[0]["tokens"], long_words, rows[1]["tokens"]],
                         [rows[0]["tags"], long_tags, rows[1]["tags"]])
    features = FORMAT.encode(examples, tokenizer, 16, UDPOS)
    assert all(len(ids) <= 16 for ids in features["input_ids"])
    mine = [f for f in features if f["example_index"] == 1]
    assert len(mine) > 3 and [f["segment"] for f in mine] == list(range(len(mine)))
    starts = [f["word_start"] for f in mine] + [len(long_words)]
    assert all(starts[i] + len(mine[i]["word_positions"]) == starts[i + 1] for i in range(len(mine)))
    predicted = FORMAT.decode(_gold_logits(features, len(UDPOS.labels)), features.to_list(), examples, UDPOS)
    assert predicted == FORMAT.references(examples, UDPOS)
    assert [len(p) for p in predicted] == [len(t) for t in examples["tokens"]]


def test_a_word_longer_than_the_window_keeps_its_label(tokenizer) -> None:
    examples = _examples([["ba", "zazezizozuzazezizozuzazezizozu" * 3, "ba"]], [[0, 4, 2]])
    features = FORMAT.encode(examples, tokenizer, 6, UDPOS)
    assert all(len(ids) <= 6 for ids in features["input_ids"])
    predicted = FORMAT.decode(_gold_logits(features, len(UDPOS.labels)), features, examples, UDPOS)
    assert predicted == [["ADJ", "CCONJ", "ADV"]]


def test_segments_and_word_pieces() -> None:
    assert segments([3, 2, 4, 1], budget=5) == [(0, 2), (2, 4)]
    assert segments([7, 1], budget=5) == [(0, 1), (1, 2)]
    assert segments([], budget=5) == [(0, 0)]
    # a word the tokenizer drops entirely still gets a position (the unknown token)
    assert word_pieces([0, 0, 2], [11, 12, 13], words=3, unk_id=3) == [[11, 12], [3], [13]]


def test_head_shape_and_loss_ignores_unlabelled_positions(tokenizer) -> None:
    head = TokenHead(8, len(PANX.labels)).eval()
    logits = head(torch.randn(2, 5, 8), {})
    assert logits.shape == (2, 5, len(PANX.labels))
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[1, 2] = 3
    expected = torch.nn.functional.cross_entropy(logits[1, 2][None], torch.tensor([3]))
    assert torch.allclose(FORMAT.loss(logits, {"labels": labels}), expected)
    rows = FORMAT.encode(_examples([["ba", "vuvidi"], ["ba"]], [[0, 1], [2]]), tokenizer, 32, PANX).to_list()
    batch = collate(rows, tokenizer.pad_token_id, FORMAT.batch_columns)
    assert batch["labels"].shape == batch["input_ids"].shape
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == 3


def test_seqeval_metric_and_submission_round_trip(tmp_path: Path) -> None:
    examples = _examples([["a", "b", "c"], ["d", "e"]], [[1, 2, 0], [5, 0]])
    gold = FORMAT.references(examples, PANX)
    assert gold == [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]
    metric = METRICS[PANX.metric]
    assert metric(gold, gold, "en")[PANX.dev_key] == 100.0
    wrong = [["B-PER", "O", "O"], ["B-LOC", "O"]]
    assert metric(wrong, gold, "en")["f1"] == pytest.approx(50.0)
    suffix, text = FORMAT.submission(wrong, examples)
    assert suffix == ".tsv" and text == "B-PER\nO\nO\n\nB-LOC\nO\n\n"
    (tmp_path / "pred.tsv").write_text(text)
    (tmp_path / "gold.tsv").write_text(FORMAT.submission(gold, examples)[1])
    assert score_file("panx", tmp_path / "pred.tsv", tmp_path / "gold.tsv", "en")["f1"] == pytest.approx(50.0)


def test_generated_data_has_long_sentences_and_valid_iob(tokenizer) -> None:
    data = DataConfig(source="generated", generated_train_size=300, generated_eval_size=16)
    examples = load_examples(PANX, "train", "en", data)
    lengths = [len(tokenizer(t, is_split_into_words=True)["input_ids"]) for t in examples["tokens"]]
    assert max(lengths) > 64  # the quickstart's max_length
    for tags in FORMAT.references(examples, PANX):
        for previous, tag in zip(["O", *tags], tags, strict=False):
            assert not tag.startswith("I-") or previous[2:] == tag[2:], tags


def test_generated_tags_follow_the_word_concept() -> None:
    rows = FORMAT.generate(UDPOS, "en", 200, random.Random(1))
    tag_of: dict[str, int] = {}
    for row in rows:
        for word, tag in zip(row["tokens"], row["tags"], strict=True):
            assert tag_of.setdefault(word, tag) == tag


CONLLU = """# text = Vengo del mercado.
1\tVengo\tvenir\tVERB\t_\t_\t0\troot\t_\t_
2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_
2\tde\tde\tADP\t_\t_\t4\tcase\t_\t_
3\tel\tel\tDET\t_\t_\t4\tdet\t_\t_
4\tmercado\tmercado\tNOUN\t_\t_\t1\tobl\t_\t_
4.1\tX\t_\t_\t_\t_\t_\t_\t_\t_
5\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\t_
"""


def _treebanks(root: Path) -> Path:
    for name, text in [("UD_Spanish-GSD/es_gsd-ud-test.conllu", CONLLU),
                       ("UD_Spanish-AnCora/es_ancora-ud-test.conllu", "1\tSí\tsí\tADV\t_\t_\t0\troot\t_\t_\n\n"),
                       ("UD_Spanish-AnCora/es_ancora-ud-train.conllu", "1\tNo\tno\tADV\t_\t_\t0\troot\t_\t_\n\n")]:
        (root / "ud-treebanks-v2.5" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "ud-treebanks-v2.5" / name).write_text(text)
    return root


def test_conllu_keeps_fused_surface_forms_with_the_span_heads_tag(tmp_path: Path) -> None:
    path = _treebanks(tmp_path) / "ud-treebanks-v2.5/UD_Spanish-GSD/es_gsd-ud-test.conllu"
    first, second = read_conllu(path)
    assert [(w.form, w.upos) for w in first] == [("Vengo", "VERB"), ("del", "ADP"), ("mercado", "NOUN"), (".", "PUNCT")]
    assert [w.form for w in second] == ["Hola"]
    # both sub-words hang off `mercado`: equally high, so the tie-break decides; a higher sub-word wins outright
    path.write_text(CONLLU.replace("3\tel\tel\tDET\t_\t_\t4", "3\tel\tel\tDET\t_\t_\t1"))
    assert read_conllu(path)[0][1].upos == "DET"


def test_udpos_local_merges_treebanks_per_split(tmp_path: Path) -> None:
    data = DataConfig(source="local", dir=str(_treebanks(tmp_path)))
    test = load_examples(UDPOS, "test", "es", data)
    assert test["tokens"] == [["Sí"], ["Vengo", "del", "mercado", "."], ["Hola"]]  # AnCora sorts before GSD
    assert test["tags"][1] == [UDPOS.labels.index(t) for t in ("VERB", "ADP", "NOUN", "PUNCT")]
    assert load_examples(UDPOS, "train", "es", data)["tokens"] == [["No"]]


def test_conllu_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.conllu"
    path.write_text("1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\t_\n2\tbad line\n\n")
    with pytest.raises(InputError, match=r"x.conllu: line 2: expected 10 tab-separated columns, found 2"):
        read_conllu(path)
    path.write_text("1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\t_\n3\tx\tx\tX\t_\t_\t1\tdep\t_\t_\n")
    with pytest.raises(InputError, match=r"line 2: word ids of the sentence ending here are not 1..2"):
        read_conllu(path)
    root = _treebanks(tmp_path)
    (root / "ud-treebanks-v2.5/UD_Spanish-GSD/es_gsd-ud-test.conllu").write_text(CONLLU.replace("VERB", "VRB"))
    with pytest.raises(InputError, match=r"es_gsd-ud-test.conllu: line 2: label 'VRB' of task 'udpos'"):
        load_examples(UDPOS, "test", "es", DataConfig(source="local", dir=str(root)))


def test_panx_files_lose_the_language_prefix(tmp_path: Path) -> None:
    folder = tmp_path / "panx_dataset" / "de"
    folder.mkdir(parents=True)
    (folder / "test").write_text("de:Angela\tB-PER\nde:Merkel\tI-PER\nde:spricht\tO\n\nde:Berlin\tB-LOC\n")
    examples = load_examples(PANX, "test", "de", DataConfig(source="local", dir=str(tmp_path)))
    assert examples["tokens"] == [["Angela", "Merkel", "spricht"], ["Berlin"]]
    assert FORMAT.references(examples, PANX) == [["B-PER", "I-PER", "O"], ["B-LOC"]]
    (folder / "test").write_text("de:Angela\tB-PER\nno tab here\n")
    with pytest.raises(InputError, match=r"panx_dataset/de/test: line 2: expected token<TAB>tag"):
        load_examples(PANX, "test", "de", DataConfig(source="local", dir=str(tmp_path)))


def test_ccg_reads_user_files_and_labels_from_the_tag_list(tmp_path: Path) -> None:
    ccg, data = TASKS["ccg"], DataConfig(source="local", dir=str(tmp_path))
    with pytest.raises(InputError, match=r"label file not found: .*ccg/tags.txt.*LDC2005T13"):
        load_examples(ccg, "train", "en", data)
    (tmp_path / "ccg").mkdir()
    (tmp_path / "ccg" / "tags.txt").write_text("N\nNP\n(S\\NP)/NP\n")
    with pytest.raises(InputError, match=r"not found: .*ccg/train.tsv \(CCG supertags from your own CCGbank"):
        load_examples(ccg, "train", "en", data)
    (tmp_path / "ccg" / "train.tsv").write_text("John likes Mary\tNP (S\\NP)/NP NP\n\nMary\tNP\n")
    examples = load_examples(ccg, "train", "en", data)
    resolved = with_labels(ccg, data)
    assert resolved.labels == ("N", "NP", "(S\\NP)/NP")
    assert FORMAT.references(examples, resolved) == [["NP", "(S\\NP)/NP", "NP"], ["NP"]]
    (tmp_path / "ccg" / "train.tsv").write_text("John likes\tNP\n")
    with pytest.raises(InputError, match=r"train.tsv: line 1: expected tokens<TAB>supertags .* 2 tokens and 1"):
        load_examples(ccg, "train", "en", data)
    (tmp_path / "ccg" / "train.tsv").write_text("John\tS\n")
    with pytest.raises(InputError, match=r"train.tsv: line 1: label 'S' of task 'ccg'"):
        load_examples(ccg, "train", "en", data)
    with pytest.raises(InputError, match="no public hub copy"):
        load_examples(ccg, "train", "en", DataConfig(source="hub"))
