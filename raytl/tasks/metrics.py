"""Metrics as plain functions, attached by name in `METRICS`.

Every metric is `fn(predictions, references, language) -> dict[str, float]`, values in percent, computed the
way XTREME's official `evaluate.py` and its third-party SQuAD/MLQA scripts compute them, down to the order of
the floating-point operations, so the numbers compare equal to the official ones. Cross-language averages are
not done here: they are unweighted means over languages, taken in `raytl.tasks.scoring`.

Tatoeba uses `accuracy` (retrieved index == gold index); UD-POS and PAN-X use `seqeval_f1`, which is not token
accuracy.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

Answers = Mapping[str, Sequence[str]]
"""Question id -> gold answer texts (empty for an unanswerable SQuAD v2 question)."""

_ASCII_PUNCT = frozenset(string.punctuation)
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    # The official pattern is `\sال^|ال`; its first branch can never match, so every "ال" is removed,
    # inside words too, not only the prefix.
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
_CJK = re.compile("[\u4e00-\u9fa5]")  # the official range, narrower than all of CJK


def accuracy(
    predictions: Sequence[Hashable], references: Sequence[Hashable], language: str = ""
) -> dict[str, float]:
    """Share of predictions equal to their reference, in percent.

    >>> accuracy(["a", "b", "b"], ["a", "b", "a"])
    {'accuracy': 66.66666666666666}
    """
    _check_same_length(predictions, references)
    correct = sum(int(p == r) for p, r in zip(predictions, references, strict=True))
    return {"accuracy": correct / len(predictions) * 100}


def token_accuracy(
    predictions: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], language: str = ""
) -> dict[str, float]:
    """Share of tokens (over all sequences) whose prediction equals the reference: CCG supertags, masked LM.

    >>> token_accuracy([["N", "NP"], ["S"]], [["N", "N"], ["S"]])
    {'accuracy': 66.66666666666666}
    """
    _check_same_length(predictions, references)
    for predicted, gold in zip(predictions, references, strict=True):
        _check_same_length(predicted, gold)
    return accuracy([p for seq in predictions for p in seq], [r for seq in references for r in seq], language)


def seqeval_f1(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]], language: str = ""
) -> dict[str, float]:
    """seqeval's micro entity F1, precision and recall over tag sequences, called as XTREME's evaluator does.

    For UD-POS this is not token accuracy: seqeval reads "NOUN" as tag "N" of type "OUN" and merges runs.

    >>> seqeval_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
    0.0
    """
    from seqeval.metrics import f1_score, precision_score, recall_score  # imports sklearn: keep it lazy

    _check_same_length(predictions, references)
    predicted, gold = [list(s) for s in predictions], [list(s) for s in references]
    with warnings.catch_warnings():
        # seqeval warns once per non-IOB tag (every UPOS tag) and on 0/0; the official output has neither.
        warnings.simplefilter("ignore")
        return {
            "f1": float(f1_score(gold, predicted)) * 100,
            "precision": float(precision_score(gold, predicted)) * 100,
            "recall": float(recall_score(gold, predicted)) * 100,
        }


def bucc_f1(
    predictions: Iterable[tuple[Hashable, Hashable]],
    references: Iterable[tuple[Hashable, Hashable]],
    language: str = "",
) -> dict[str, float]:
    """Precision, recall and F1 of the set of predicted (source id, target id) pairs against the gold set.

    >>> bucc_f1([("de-1", "en-7"), ("de-2", "en-3")], [("de-1", "en-7")])["f1"]
    66.66666666666666
    """
    predicted, gold = {tuple(p) for p in predictions}, {tuple(g) for g in references}
    correct = len(predicted & gold)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(predicted), correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower-case, drop ASCII punctuation and a/an/the, collapse whitespace.

    >>> normalize_squad("The  Eiffel-Tower!")
    'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_ENGLISH_ARTICLES.sub(" ", text).split())


def normalize_mlqa(text: str, language: str) -> str:
    """MLQA answer normalisation: Unicode punctuation, the language's articles, zh mixed segmentation.

    >>> normalize_mlqa("北京是中国的首都。", "zh")
    '北 京 是 中 国 的 首 都'
    """
    _check_mlqa_language(language)
    text = "".join(ch for ch in text.lower() if not _is_mlqa_punctuation(ch))
    articles = _MLQA_ARTICLES[language]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if language == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def squad(predictions: Mapping[str, str], references: Answers, language: str = "") -> dict[str, float]:
    """SQuAD v1.1 exact match and token F1, max over gold answers; an unanswered question scores 0.

    >>> squad({"q1": "the Nile", "q2": "Paris"}, {"q1": ["Nile"], "q2": ["Rome"], "q3": ["x"]})
    {'exact_match': 33.333333333333336, 'f1': 33.333333333333336}
    """
    return _qa_scores(predictions, references, normalize_squad)


def mlqa(predictions: Mapping[str, str], references: Answers, language: str) -> dict[str, float]:
    """MLQA exact match and token F1 with the answer language's normalisation (see `normalize_mlqa`).

    >>> mlqa({"q1": "中国首都"}, {"q1": ["中国的首都"]}, "zh")["f1"]
    88.8888888888889
    """
    _check_mlqa_language(language)
    return _qa_scores(predictions, references, lambda text: normalize_mlqa(text, language))


def squad_v2(predictions: Mapping[str, str], references: Answers, language: str = "") -> dict[str, float]:
    """SQuAD v2.0 exact/F1 as its official script computes them (no-answer threshold 1.0).

    An empty prediction means "no answer"; a question without gold answers is unanswerable and only the empty
    prediction scores on it. A question missing from `predictions` counts as answered with "no answer" (the
    official script leaves it out of the total instead). Keys: exact, f1, total, and HasAns_*/NoAns_* for
    whichever kinds of question are present.

    >>> squad_v2({"q1": "", "q2": "Paris"}, {"q1": [], "q2": ["Paris"]})["exact"]
    100.0
    """
    exact: dict[str, int] = {}
    f1: dict[str, float] = {}
    for qid, answers in references.items():
        gold = [a for a in answers if normalize_squad(a)] or [""]
        predicted = predictions.get(qid, "")
        exact[qid] = max(int(normalize_squad(g) == normalize_squad(predicted)) for g in gold)
        f1[qid] = max(_v2_token_f1(g, predicted) for g in gold)
    if not exact:
        raise ValueError("squad_v2: no questions in references")
    scores = _v2_totals(exact, f1, list(exact))
    has_answer = [qid for qid, answers in references.items() if answers]
    no_answer = [qid for qid, answers in references.items() if not answers]
    for prefix, qids in (("HasAns", has_answer), ("NoAns", no_answer)):
        if qids:
            scores.update({f"{prefix}_{k}": v for k, v in _v2_totals(exact, f1, qids).items()})
    return scores


def _v2_totals(exact: Mapping[str, int], f1: Mapping[str, float], qids: Sequence[str]) -> dict[str, float]:
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[q] for q in qids) / total,
        "f1": 100.0 * sum(f1[q] for q in qids) / total,
        "total": float(total),
    }


def _v2_token_f1(gold: str, predicted: str) -> float:
    gold_tokens = normalize_squad(gold).split() if gold else []
    predicted_tokens = normalize_squad(predicted).split() if predicted else []
    if not gold_tokens or not predicted_tokens:
        return float(gold_tokens == predicted_tokens)
    return _token_f1(predicted_tokens, gold_tokens)


def _qa_scores(
    predictions: Mapping[str, str], references: Answers, normalize: Callable[[str], str]
) -> dict[str, float]:
    if not references:
        raise ValueError("no questions in references")
    exact_match = f1 = 0.0
    # Summed question by question in reference order, as the official script does: totals agree bit for bit.
    for qid, answers in references.items():
        if qid not in predictions:
            continue
        if not answers:
            raise ValueError(f"question {qid!r} has no gold answer (SQuAD v1.1 needs at least one)")
        predicted = normalize(predictions[qid])
        gold = [normalize(a) for a in answers]
        exact_match += max(predicted == g for g in gold)
        f1 += max(_token_f1(predicted.split(), g.split()) for g in gold)
    return {"exact_match": 100.0 * exact_match / len(references), "f1": 100.0 * f1 / len(references)}


def _token_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = 1.0 * same / len(predicted)
    recall = 1.0 * same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def _is_mlqa_punctuation(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P") or ch in _ASCII_PUNCT


def _mixed_segmentation(text: str) -> list[str]:
    """Each CJK character (official range) and punctuation mark is a token; other runs split on whitespace."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.match(ch) or _is_mlqa_punctuation(ch):
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def _check_mlqa_language(language: str) -> None:
    if language not in _MLQA_ARTICLES:
        known = ", ".join(sorted(_MLQA_ARTICLES))
        raise ValueError(f"MLQA has no normalisation for {language!r}; known: {known}")


def _check_same_length(predictions: Sequence[object], references: Sequence[object]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if len(references) == 0:
        raise ValueError("no examples to score")


METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "accuracy": accuracy,
    "token_accuracy": token_accuracy,
    "seqeval_f1": seqeval_f1,
    "bucc_f1": bucc_f1,
    "squad": squad,
    "mlqa": mlqa,
    "squad_v2": squad_v2,
}
"""Metric name -> fn(predictions, references, language) -> {name: value in percent}."""
