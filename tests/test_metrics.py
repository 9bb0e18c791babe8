"""Metrics against hand-computed values, including every trap listed in docs/xtreme.md."""

from __future__ import annotations

import pytest

from raytl.tasks.metrics import (
    METRICS,
    accuracy,
    bucc_f1,
    mlqa,
    normalize_mlqa,
    normalize_squad,
    seqeval_f1,
    squad,
    squad_v2,
)


def test_metrics_attach_by_name() -> None:
    assert {"accuracy", "seqeval_f1", "bucc_f1", "squad", "mlqa", "squad_v2"} <= METRICS.keys()
    assert METRICS["accuracy"](["a"], ["a"], "en") == {"accuracy": 100.0}


def test_accuracy_is_a_percentage() -> None:
    assert accuracy(["entailment", "neutral", "neutral"], ["entailment", "neutral", "contradiction"]) == {
        "accuracy": 2 / 3 * 100
    }
    assert accuracy([3, 1], [3, 2]) == {"accuracy": 50.0}  # Tatoeba: retrieved index vs gold index


@pytest.mark.parametrize(("predictions", "references"), [(["a"], ["a", "b"]), ([], [])])
def test_accuracy_rejects_mismatched_or_empty(predictions: list[str], references: list[str]) -> None:
    with pytest.raises(ValueError):
        accuracy(predictions, references)


def test_seqeval_f1_is_not_token_accuracy_on_upos() -> None:
    gold = [["NOUN", "NOUN", "VERB"]]
    predicted = [["NOUN", "VERB", "VERB"]]
    # Token accuracy is 2/3, but seqeval reads NOUN as tag "N" of type "OUN" and merges runs of one type:
    # gold chunks (OUN 0-1)(ERB 2), predicted (OUN 0)(ERB 1-2): no chunk matches.
    assert accuracy(predicted[0], gold[0])["accuracy"] == pytest.approx(66.6667, abs=1e-4)
    assert seqeval_f1(predicted, gold) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_seqeval_f1_counts_entities_on_panx() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG"]]
    # entities: gold PER, LOC, ORG; predicted PER, ORG, ORG -> 2 right of 3 each way.
    scores = seqeval_f1(predicted, gold)
    assert scores == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3})


def test_bucc_f1_compares_sets_of_pairs() -> None:
    # the duplicate counts once
    predicted = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3"), ("de-1", "en-1")]
    gold = [("de-1", "en-1"), ("de-2", "en-2"), ("de-4", "en-4"), ("de-5", "en-5")]
    # 2 correct; precision 2/3, recall 2/4, F1 = 2PR/(P+R) = 4/7
    assert bucc_f1(predicted, gold) == pytest.approx({"f1": 400 / 7, "precision": 200 / 3, "recall": 50.0})
    assert bucc_f1([("de-9", "en-9")], gold) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_squad_normalisation_drops_english_articles_and_ascii_punctuation() -> None:
    assert normalize_squad("The Eiffel  Tower!") == "eiffel tower"
    assert normalize_squad("The ant, an ANT.") == "ant ant"  # articles only as whole words
    assert normalize_squad("«Paris»") == "«paris»"  # SQuAD keeps non-ASCII punctuation


def test_squad_max_over_gold_and_unanswered_scores_zero() -> None:
    predictions = {"q1": "the big red house", "q2": "The Eiffel Tower!", "q3": "«Paris»"}
    references = {"q1": ["blue", "red house"], "q2": ["Eiffel Tower"], "q3": ["Paris"], "q4": ["x"]}
    # q1: F1 vs "red house" = 2*(2/3)*1/(2/3+1) = 0.8, EM 0; q2: EM 1; q3: "«paris»" != "paris";
    # q4 unanswered: 0. EM = 1/4, F1 = 1.8/4.
    assert squad(predictions, references) == pytest.approx({"exact_match": 25.0, "f1": 45.0})


@pytest.mark.parametrize(
    ("text", "language", "normalised"),
    [
        ("الكتاب", "ar", "كتاب"),  # the article ال ...
        ("مالك", "ar", "م ك"),  # ... is removed wherever it occurs, as the official regex does
        ("Der Hund", "de", "hund"),
        ("des Hundes", "de", "hundes"),
        ("los perros", "es", "perros"),
        ("Unas casas", "es", "casas"),
        ("những con mèo của tôi", "vi", "con mèo tôi"),
        ("the book", "hi", "the book"),  # no articles for Hindi
        ("The book", "en", "book"),
        ("«Paris»", "en", "paris"),  # Unicode punctuation (category P*)
        ("¿Qué?", "es", "qué"),
        ("$5", "en", "5"),  # ASCII punctuation that Unicode calls a symbol
        ("我爱 New York。", "zh", "我 爱 new york"),  # mixed segmentation
    ],
)
def test_mlqa_normalisation(text: str, language: str, normalised: str) -> None:
    assert normalize_mlqa(text, language) == normalised


def test_mlqa_articles_are_per_language() -> None:
    assert mlqa({"q": "der Hund"}, {"q": ["Hund"]}, "de")["exact_match"] == 100.0
    assert mlqa({"q": "der Hund"}, {"q": ["Hund"]}, "en")["exact_match"] == 0.0


def test_mlqa_zh_scores_characters_where_squad_scores_nothing() -> None:
    # 北京大学 vs 北京: tokens 北 京 大 学 vs 北 京 -> precision 1/2, recall 1, F1 2/3.
    expected = {"exact_match": 0.0, "f1": 200 / 3}
    assert mlqa({"q": "北京大学"}, {"q": ["北京"]}, "zh") == pytest.approx(expected)
    assert squad({"q": "北京大学"}, {"q": ["北京"]}) == {"exact_match": 0.0, "f1": 0.0}


def test_mlqa_rejects_a_language_without_rules() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        mlqa({"q": "a"}, {"q": ["a"]}, "fr")


def test_squad_v2_handles_no_answer() -> None:
    predictions = {"q1": "", "q2": "the big red house", "q3": "something"}
    references = {"q1": [], "q2": ["red house"], "q3": []}
    # q1 unanswerable, abstained: 1/1; q2 answerable: EM 0, F1 0.8; q3 unanswerable but answered: 0/0.
    assert squad_v2(predictions, references) == pytest.approx(
        {
            "exact": 100 / 3,
            "f1": 60.0,
            "total": 3.0,
            "HasAns_exact": 0.0,
            "HasAns_f1": 80.0,
            "HasAns_total": 1.0,
            "NoAns_exact": 50.0,
            "NoAns_f1": 50.0,
            "NoAns_total": 2.0,
        }
    )
    assert squad_v2({}, {"q": ["Paris"]})["exact"] == 0.0  # missing = no answer
