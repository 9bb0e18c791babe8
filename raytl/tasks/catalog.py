"""The task catalog: one declarative entry per task. Facts from ../shared/docs/xtreme.md and intermediate-tasks.md."""

from __future__ import annotations

from raytl.tasks.entry import HubSource, LocalFile, Task

NLI_LABELS = ("entailment", "neutral", "contradiction")  # GLUE/ANLI/SNLI index order

_GLUE_MNLI = {"premise": "string", "hypothesis": "string", "label": "int64", "idx": "int32"}
_GLUE_QQP = {"question1": "string", "question2": "string", "label": "int64", "idx": "int32"}
_XTREME_XNLI = {"language": "string", "sentence1": "string", "sentence2": "string", "gold_label": "string"}
_XTREME_PAWSX = {"sentence1": "string", "sentence2": "string", "label": "string"}
_PAWSX_ORIGINAL = {"id": "int32", "sentence1": "string", "sentence2": "string", "label": "int64"}

_NLI_COLUMNS = {"text_a": "premise", "text_b": "hypothesis", "label": "label"}
_XNLI_COLUMNS = {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}
_PAIR_COLUMNS = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}


def _glue(config: str, split: str, features: dict[str, str], columns: dict[str, str]) -> HubSource:
    return HubSource("nyu-mll/glue", config, split, features=features, columns=columns)


# Extractive QA: SQuAD-format rows everywhere (XQuAD's hub copy has no title); one reader for every original file
_ANSWERS = "struct<text: list<string>, answer_start: list<int32>>"
_SQUAD = {"id": "string", "title": "string", "context": "string", "question": "string", "answers": _ANSWERS}
_XQUAD = {"id": "string", "context": "string", "question": "string", "answers": _ANSWERS}
_QA_COLUMNS = {"id": "id", "context": "context", "question": "question", "answers": "answers"}
_TYDIQA_NAMES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                 "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}
_TYDIQA_PREFIX = {"id": {lang: f"{name}-" for lang, name in _TYDIQA_NAMES.items()}}  # all languages in one split


def _qa(path: str, config: str, split: str, features: dict[str, str] = _SQUAD, tydiqa: bool = False) -> HubSource:
    prefix = _TYDIQA_PREFIX if tydiqa else {}
    return HubSource(path, config, split, features=features, columns=_QA_COLUMNS, prefix=prefix)


_SQUAD_V1_TRAIN = _qa("rajpurkar/squad", "plain_text", "train")


_TASKS = [
    Task(
        name="mnli",
        role="intermediate",
        format="classification",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _glue("mnli", "train", _GLUE_MNLI, _NLI_COLUMNS),
            "validation": _glue("mnli", "validation_matched", _GLUE_MNLI, _NLI_COLUMNS),
        },
        labels=NLI_LABELS,
        group="simple NLI",
        world="nli",
        description="MultiNLI, 392,702 English premise/hypothesis pairs, 3 labels",
    ),
    Task(
        name="qqp",
        role="intermediate",
        format="classification",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _glue("qqp", "train", _GLUE_QQP, {"text_a": "question1", "text_b": "question2", "label": "label"}),
            "validation": _glue(
                "qqp", "validation", _GLUE_QQP, {"text_a": "question1", "text_b": "question2", "label": "label"}
            ),
        },
        labels=("not_duplicate", "duplicate"),
        group="paraphrase",
        world="paraphrase",
        description="Quora Question Pairs, 363,846 English question pairs, duplicate or not",
    ),
    Task(
        name="xnli",
        role="target",
        format="classification",
        metric="accuracy",
        languages=tuple(["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]),
        sources={
            "train": _glue("mnli", "train", _GLUE_MNLI, _NLI_COLUMNS),
            "validation": HubSource(
                "google/xtreme", "XNLI", "validation", _XTREME_XNLI, _XNLI_COLUMNS, where={"language": "{lang}"}
            ),
            "test": HubSource(
                "google/xtreme", "XNLI", "test", _XTREME_XNLI, _XNLI_COLUMNS, where={"language": "{lang}"}
            ),
        },
        local={
            "train": LocalFile("MNLI/train.tsv", "glue_tsv"),
            "validation": LocalFile("XNLI-1.0/xnli.dev.tsv", "xnli_tsv"),
            "test": LocalFile("XNLI-1.0/xnli.test.tsv", "xnli_tsv"),
        },
        labels=NLI_LABELS,
        label_aliases={"contradictory": "contradiction"},
        world="nli",
        description="XNLI: train on English MultiNLI, test 5,010 pairs in each of 15 languages",
    ),
    Task(
        name="pawsx",
        role="target",
        format="classification",
        metric="accuracy",
        languages=tuple(["de", "en", "es", "fr", "ja", "ko", "zh"]),
        sources={
            # google/xtreme's PAWS-X.en train lacks 226 rows; the original release has all 49,401
            "train": HubSource("google-research-datasets/paws-x", "en", "train", _PAWSX_ORIGINAL, _PAIR_COLUMNS),
            "validation": HubSource("google/xtreme", "PAWS-X.{lang}", "validation", _XTREME_PAWSX, _PAIR_COLUMNS),
            "test": HubSource("google/xtreme", "PAWS-X.{lang}", "test", _XTREME_PAWSX, _PAIR_COLUMNS),
        },
        local={
            "train": LocalFile("x-final/en/train.tsv", "pawsx_tsv"),
            "validation": LocalFile("x-final/{lang}/dev_2k.tsv", "pawsx_tsv"),
            "test": LocalFile("x-final/{lang}/test_2k.tsv", "pawsx_tsv"),
        },
        labels=("0", "1"),
        world="paraphrase",
        description="PAWS-X: train on English PAWS-Wiki (49,401 pairs), test 2,000 pairs in each of 7 languages",
    ),
    Task(
        name="squadv2",
        role="intermediate",
        format="span_qa",
        metric="squad_v2",
        languages=("en",),
        sources={
            "train": _qa("rajpurkar/squad_v2", "squad_v2", "train"),
            "validation": _qa("rajpurkar/squad_v2", "squad_v2", "validation"),
        },
        local={"train": LocalFile("train-v2.0.json", "squad_json"),
               "validation": LocalFile("dev-v2.0.json", "squad_json")},
        dev_key="f1",
        group="extractive QA",
        world="qa",
        description="SQuAD v2.0, 130,319 English questions on Wikipedia paragraphs, a third unanswerable",
    ),
    Task(
        name="xquad",
        role="target",
        format="span_qa",
        metric="squad",
        languages=tuple(["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]),
        sources={
            "train": _SQUAD_V1_TRAIN,
            "validation": _qa("rajpurkar/squad", "plain_text", "validation"),
            "test": _qa("google/xtreme", "XQuAD.{lang}", "validation", _XQUAD),  # its only split
        },
        local={"train": LocalFile("train-v1.1.json", "squad_json"),
               "validation": LocalFile("dev-v1.1.json", "squad_json"),
               "test": LocalFile("xquad.{lang}.json", "squad_json")},
        dev_key="f1",
        world="qa",
        description="XQuAD: train on English SQuAD v1.1 (87,599), test 1,190 questions in each of 11 languages",
    ),
    Task(
        name="mlqa",
        role="target",
        format="span_qa",
        metric="mlqa",
        languages=tuple(["ar", "de", "en", "es", "hi", "vi", "zh"]),
        sources={
            "train": _SQUAD_V1_TRAIN,
            "validation": _qa("google/xtreme", "MLQA.{lang}.{lang}", "validation"),
            "test": _qa("google/xtreme", "MLQA.{lang}.{lang}", "test"),
        },
        local={"train": LocalFile("train-v1.1.json", "squad_json"),
               "validation": LocalFile("MLQA_V1/dev/dev-context-{lang}-question-{lang}.json", "squad_json"),
               "test": LocalFile("MLQA_V1/test/test-context-{lang}-question-{lang}.json", "squad_json")},
        dev_key="f1",
        world="qa",
        description="MLQA: train on English SQuAD v1.1, test in 7 languages (context language = question language)",
    ),
    Task(
        name="tydiqa",
        role="target",
        format="span_qa",
        metric="squad",
        languages=tuple(["ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te"]),
        sources={
            "train": _qa("google/xtreme", "tydiqa", "train", tydiqa=True),  # the `english-` rows
            # no public test: the GoldP dev set is the test set, and its English part the English dev set
            "validation": _qa("google/xtreme", "tydiqa", "validation", tydiqa=True),
            "test": _qa("google/xtreme", "tydiqa", "validation", tydiqa=True),
        },
        local={"train": LocalFile("tydiqa-goldp-v1.1-train.json", "squad_json"),
               "validation": LocalFile("tydiqa-goldp-v1.1-dev.json", "squad_json"),
               "test": LocalFile("tydiqa-goldp-v1.1-dev.json", "squad_json")},
        dev_key="f1",
        world="qa",
        description="TyDiQA-GoldP: train on its English part, test on the GoldP dev set in 9 languages",
    ),
]

TASKS: dict[str, Task] = {task.name: task for task in _TASKS}
INTERMEDIATE_TASKS = [name for name, task in TASKS.items() if task.role == "intermediate"]
TARGET_TASKS = [name for name, task in TASKS.items() if task.role == "target"]
