"""The task catalog: one declarative entry per task. Facts from ../shared/docs/xtreme.md and intermediate-tasks.md."""

from __future__ import annotations

from raytl.tasks.entry import Complexity, HubSource, LocalFile, Task, Xtreme

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

_ANLI = {"uid": "string", "premise": "string", "hypothesis": "string", "label": "int64", "reason": "string"}
_SNLI = {"premise": "string", "hypothesis": "string", "label": "int64"}
_GLUE_SST2 = {"sentence": "string", "label": "int64", "idx": "int32"}
_HELLASWAG = {"ind": "int32", "activity_label": "string", "ctx_a": "string", "ctx_b": "string", "ctx": "string",
              "endings": "list<string>", "source_id": "string", "split": "string", "split_type": "string",
              "label": "string"}
_COSMOSQA = {"id": "string", "context": "string", "question": "string", "answer0": "string", "answer1": "string",
             "answer2": "string", "answer3": "string", "label": "int32"}
_COMMONSENSEQA = {"id": "string", "question": "string", "question_concept": "string",
                  "choices": "struct<label: list<string>, text: list<string>>", "answerKey": "string"}
_UDPOS = {"tokens": "list<string>", "pos_tags": "list<int64>"}  # ClassLabel indices
_PANX = {"tokens": "list<string>", "ner_tags": "list<int64>", "langs": "list<string>"}
_CCG = {"tokens": "list<string>", "tags": "list<int64>"}  # no hub copy: the schema local files are read into

_ANLI_ROUNDS = ("r1", "r2", "r3")
_MNLI_TRAIN_FILE = LocalFile("MNLI/train.tsv", "glue_tsv")  # GLUE's MNLI: MNLI, XNLI's training set and part of ANLI+


def _anli_file(round_: int, split: str) -> LocalFile:
    return LocalFile(f"anli_v1.0/R{round_}/{split}.jsonl", "anli_jsonl")


_ANLI_PLUS_TRAIN = (
    *(HubSource("facebook/anli", "plain_text", f"train_{r}", _ANLI, _NLI_COLUMNS) for r in _ANLI_ROUNDS[1:]),
    _glue("mnli", "train", _GLUE_MNLI, _NLI_COLUMNS),
    HubSource("stanfordnlp/snli", "plain_text", "train", _SNLI, _NLI_COLUMNS, unlabelled=-1),
)
_MC_COLUMNS = {  # hub columns -> the names each shape reads (raytl.tasks.shapes)
    "hellaswag": {"prompt": "ctx_a", "lead": "ctx_b", "endings": "endings", "label": "label"},
    "cosmosqa": {name: name for name in _COSMOSQA if name != "id"},
    "commonsenseqa": {"prompt": "question", "options": "choices", "answer": "answerKey"},
}
_PARQUET = "refs/convert/parquet"  # HellaSwag and CosmosQA keep only a loading script on main
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ",
        "SYM", "VERB", "X")  # google/xtreme udpos ClassLabel order
PANX_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme PAN-X ClassLabel order
UDPOS_LANGUAGES = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh")
XNLI_LANGUAGES = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGUAGES = tuple("de en es fr ja ko zh".split())
MLQA_LANGUAGES = tuple("en es de ar hi vi zh".split())
UDPOS_NO_DEV = ("kk", "th", "tl", "yo")  # UD v2.5 has no dev treebank for them (the hub copy no validation split)
PANX_LANGUAGES = tuple("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th "
                       "sw yo my zh kk tr et fi hu".split())


def _mc(task: str, path: str, config: str | None, split: str, features: dict[str, str]) -> HubSource:
    revision = _PARQUET if task in ("hellaswag", "cosmosqa") else None
    return HubSource(path, config, split, features=features, columns=_MC_COLUMNS[task], revision=revision)


def _tagging(config: str, split: str, features: dict[str, str], tags: str) -> HubSource:
    return HubSource("google/xtreme", config, split, features=features, columns={"tokens": "tokens", "tags": tags})


_RETRIEVAL = {"source_sentence": "string", "target_sentence": "string", "source_lang": "string",
              "target_lang": "string"}
_TATOEBA_COLUMNS = {"source": "source_sentence", "target": "target_sentence"}
_BUCC_COLUMNS = {"source": "source_sentence", "target": "target_sentence", "source_id": "source_lang",
                 "target_id": "target_lang"}

_WIKIPEDIA = {"id": "string", "url": "string", "title": "string", "text": "string"}

# The paper's translated-data ablation: XNLI-MT-1.0's MultiNLI train in the 15 XNLI languages (English included, as
# released; facebook/xnli's `train` split per language is this data) and XTREME's translate-train SQuAD v1.1 in the
# 10 non-English XQuAD languages (no hub copy; its `en-{lang}` files hold translations only)
_XNLI_MT = {"premise": "string", "hypothesis": "string", "label": "int64"}  # ClassLabel entailment/neutral/contra.
XNLI_LANGUAGES = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
SQUAD_MT_LANGUAGES = tuple("ar de el es hi ru th tr vi zh".split())

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
        local={"train": _MNLI_TRAIN_FILE, "validation": LocalFile("MNLI/dev_matched.tsv", "glue_tsv")},
        labels=NLI_LABELS,
        complexity=Complexity("inference", adversarial=False, train_size=392_702),
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
        local={"train": LocalFile("QQP/train.tsv", "qqp_tsv"), "validation": LocalFile("QQP/dev.tsv", "qqp_tsv")},
        labels=("not_duplicate", "duplicate"),
        complexity=Complexity("paraphrase", adversarial=False, train_size=363_846),
        group="paraphrase",
        world="paraphrase",
        description="Quora Question Pairs, 363,846 English question pairs, duplicate or not",
    ),
    Task(
        name="xnli",
        role="target",
        format="classification",
        metric="accuracy",
        languages=XNLI_LANGUAGES,
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
            "train": _MNLI_TRAIN_FILE,
            "validation": LocalFile("XNLI-1.0/xnli.dev.tsv", "xnli_tsv"),
            "test": LocalFile("XNLI-1.0/xnli.test.tsv", "xnli_tsv"),
        },
        labels=NLI_LABELS,
        label_aliases={"contradictory": "contradiction"},
        world="nli",
        dev_languages=XNLI_LANGUAGES,
        xtreme=Xtreme("classification", "label", position=1),
        description="XNLI: train on English MultiNLI, test 5,010 pairs in each of 15 languages",
    ),
    Task(
        name="pawsx",
        role="target",
        format="classification",
        metric="accuracy",
        languages=PAWSX_LANGUAGES,
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
        dev_languages=PAWSX_LANGUAGES,
        xtreme=Xtreme("classification", "label", position=0),
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
        complexity=Complexity("reading comprehension", adversarial=False, train_size=130_319),
        group="extractive QA",
        world="qa",
        description="SQuAD v2.0, 130,319 English questions on Wikipedia paragraphs, a third unanswerable",
    ),
    Task(
        name="xquad",
        role="target",
        format="span_qa",
        metric="squad",
        languages=tuple("en es de el ru tr ar vi th zh hi".split()),
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
        xtreme=Xtreme("qa", "qa", position=6),
        description="XQuAD: train on English SQuAD v1.1 (87,599), test 1,190 questions in each of 11 languages",
    ),
    Task(
        name="mlqa",
        role="target",
        format="span_qa",
        metric="mlqa",
        languages=MLQA_LANGUAGES,
        dev_languages=MLQA_LANGUAGES,
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
        xtreme=Xtreme("qa", "qa", position=7),
        description="MLQA: train on English SQuAD v1.1, test in 7 languages (context language = question language)",
    ),
    Task(
        name="tydiqa",
        role="target",
        format="span_qa",
        metric="squad",
        languages=tuple("en ar bn fi id ko ru sw te".split()),
        sources={
            "train": _qa("google/xtreme", "tydiqa", "train", tydiqa=True),  # the `english-` rows
            # no public test: the GoldP dev set is the test set (English part included), so selection reads
            # SQuAD v1.1 dev, the English dev set of XTREME's other zero-shot QA tasks
            "validation": _qa("rajpurkar/squad", "plain_text", "validation"),
            "test": _qa("google/xtreme", "tydiqa", "validation", tydiqa=True),
        },
        local={"train": LocalFile("tydiqa-goldp-v1.1-train.json", "squad_json"),
               "validation": LocalFile("dev-v1.1.json", "squad_json"),
               "test": LocalFile("tydiqa-goldp-v1.1-dev.json", "squad_json")},
        dev_key="f1",
        world="qa",
        xtreme=Xtreme("qa", "qa", position=8),
        description="TyDiQA-GoldP: train on its English part, test on the GoldP dev set in 9 languages, select on "
        "SQuAD v1.1 dev (TyDiQA has no dev data apart from its test set)",
    ),
    Task(
        name="anli_plus",
        role="intermediate",
        format="classification",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": HubSource("facebook/anli", "plain_text", "train_r1", _ANLI, _NLI_COLUMNS),
            "validation": HubSource("facebook/anli", "plain_text", "dev_r1", _ANLI, _NLI_COLUMNS),
        },
        more_sources={
            "train": _ANLI_PLUS_TRAIN,
            "validation": tuple(HubSource("facebook/anli", "plain_text", f"dev_{r}", _ANLI, _NLI_COLUMNS)
                                for r in _ANLI_ROUNDS[1:]),
        },
        local={"train": _anli_file(1, "train"), "validation": _anli_file(1, "dev")},
        more_local={
            "train": (_anli_file(2, "train"), _anli_file(3, "train"), _MNLI_TRAIN_FILE,
                      LocalFile("snli_1.0/snli_1.0_train.jsonl", "snli_jsonl")),
            "validation": (_anli_file(2, "dev"), _anli_file(3, "dev")),
        },
        labels=NLI_LABELS,
        complexity=Complexity("inference", adversarial=True, train_size=1_104_934),
        group="adversarial NLI",
        world="nli",
        description="ANLI+: ANLI r1-r3 + MNLI + SNLI train as one 3-way NLI task, 1,104,934 pairs (SNLI rows "
        "without gold label dropped); dev = ANLI dev r1-r3",
    ),
    Task(
        name="sst2",
        role="intermediate",
        format="classification",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _glue("sst2", "train", _GLUE_SST2, {"sentence": "sentence", "label": "label"}),
            "validation": _glue("sst2", "validation", _GLUE_SST2, {"sentence": "sentence", "label": "label"}),
        },
        local={"train": LocalFile("SST-2/train.tsv", "sst2_tsv"), "validation": LocalFile("SST-2/dev.tsv", "sst2_tsv")},
        labels=("negative", "positive"),
        shape="one_sentence",
        complexity=Complexity("sentiment", adversarial=False, train_size=67_349),
        group="sentiment",
        world="sentiment",
        description="SST-2: 67,349 English movie-review sentences, negative or positive",
    ),
    Task(
        name="hellaswag",
        role="intermediate",
        format="multiple_choice",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _mc("hellaswag", "Rowan/hellaswag", "default", "train", _HELLASWAG),
            "validation": _mc("hellaswag", "Rowan/hellaswag", "default", "validation", _HELLASWAG),
        },
        local={"train": LocalFile("hellaswag/hellaswag_train.jsonl", "hellaswag_jsonl"),
               "validation": LocalFile("hellaswag/hellaswag_val.jsonl", "hellaswag_jsonl")},
        labels=("0", "1", "2", "3"),
        shape="hellaswag",
        complexity=Complexity("commonsense", adversarial=True, train_size=39_905),
        group="commonsense multiple choice",
        world="commonsense",
        description="HellaSwag: 39,905 contexts, pick the right one of 4 endings (prompt ctx_a, choice ctx_b + ending)",
    ),
    Task(
        name="cosmosqa",
        role="intermediate",
        format="multiple_choice",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _mc("cosmosqa", "allenai/cosmos_qa", "default", "train", _COSMOSQA),
            "validation": _mc("cosmosqa", "allenai/cosmos_qa", "default", "validation", _COSMOSQA),
        },
        local={"train": LocalFile("cosmosqa/train.csv", "cosmosqa_csv"),
               "validation": LocalFile("cosmosqa/valid.csv", "cosmosqa_csv")},
        labels=("0", "1", "2", "3"),
        shape="cosmosqa",
        complexity=Complexity("commonsense", adversarial=False, train_size=25_262),
        group="commonsense multiple choice",
        world="commonsense",
        description="CosmosQA: 25,262 reading-comprehension questions, 4 answers (prompt context + question)",
    ),
    Task(
        name="commonsenseqa",
        role="intermediate",
        format="multiple_choice",
        metric="accuracy",
        languages=("en",),
        sources={
            "train": _mc("commonsenseqa", "tau/commonsense_qa", None, "train", _COMMONSENSEQA),
            "validation": _mc("commonsenseqa", "tau/commonsense_qa", None, "validation", _COMMONSENSEQA),
        },
        local={"train": LocalFile("commonsenseqa/train_rand_split.jsonl", "commonsenseqa_jsonl"),
               "validation": LocalFile("commonsenseqa/dev_rand_split.jsonl", "commonsenseqa_jsonl")},
        labels=("0", "1", "2", "3", "4"),  # choice positions; answerKey is mapped through choices.label
        shape="commonsenseqa",
        complexity=Complexity("commonsense", adversarial=False, train_size=9_741),
        group="commonsense multiple choice",
        world="commonsense",
        description="CommonsenseQA: 9,741 questions, 5 answers",
    ),
    Task(
        name="ccg",
        role="intermediate",
        format="tagging",
        metric="token_accuracy",  # share of words whose supertag is right (raytl.tasks.metrics.token_accuracy)
        languages=("en",),
        sources={split: HubSource("", None, split, _CCG, {"tokens": "tokens", "tags": "tags"})
                 for split in ("train", "validation")},
        local={"train": LocalFile("ccg/train.tsv", "ccg_tagged"), "validation": LocalFile("ccg/dev.tsv", "ccg_tagged")},
        label_file="ccg/tags.txt",
        complexity=Complexity("syntax", adversarial=False, train_size=None),
        group="syntactic tagging",
        world="syntax",
        description="CCG supertagging from your own CCGbank (LDC2005T13, licensed): data.dir/ccg/{train,dev}.tsv with "
        "one sentence per line (tokens, a tab, supertags) and data.dir/ccg/tags.txt with one supertag per line",
    ),
    Task(
        name="udpos",
        role="target",
        format="tagging",
        metric="seqeval_f1",
        languages=UDPOS_LANGUAGES,
        sources={split: _tagging("udpos.{language}", split, _UDPOS, "pos_tags")
                 for split in ("train", "validation", "test")},
        local={split: LocalFile("ud-treebanks-v2.5", "ud_conllu") for split in ("train", "validation", "test")},
        labels=UPOS,
        dev_key="f1",
        dev_languages=tuple(lang for lang in UDPOS_LANGUAGES if lang not in UDPOS_NO_DEV),
        world="syntax",
        xtreme=Xtreme("tagging", "tags", position=3),
        description="UD-POS: train on UD v2.5 English (all treebanks), test in 33 languages; seqeval F1 as XTREME "
        "scores it, not token accuracy",
    ),
    Task(
        name="panx",
        role="target",
        format="tagging",
        metric="seqeval_f1",
        languages=PANX_LANGUAGES,
        sources={split: _tagging("PAN-X.{lang}", split, _PANX, "ner_tags")
                 for split in ("train", "validation", "test")},
        local={"train": LocalFile("panx_dataset/{lang}/train", "panx_tsv"),
               "validation": LocalFile("panx_dataset/{lang}/dev", "panx_tsv"),
               "test": LocalFile("panx_dataset/{lang}/test", "panx_tsv")},
        labels=PANX_LABELS,
        dev_key="f1",
        dev_languages=PANX_LANGUAGES,
        world="entities",
        xtreme=Xtreme("tagging", "tags", position=2),
        description="PAN-X (WikiANN): train on English (20k sentences), test in 40 languages; IOB2 PER/ORG/LOC",
    ),
    Task(
        name="tatoeba",
        role="target",
        format="nearest_neighbour",
        metric="accuracy",
        languages=tuple(
            "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et fi "
            "hu".split()
        ),
        sources={"test": HubSource("google/xtreme", "tatoeba.{iso3}", "validation", _RETRIEVAL, _TATOEBA_COLUMNS)},
        local={"test": LocalFile("tatoeba.{iso3}-eng.{iso3}", "tatoeba_text")},
        dev_from="bucc2018",  # no dev data of its own: selects on BUCC's sample (dev) release
        world="translation",
        xtreme=Xtreme("retrieval", "index", position=5),
        description="Tatoeba (LASER v1): up to 1,000 pairs with English per language; nearest neighbour, no training",
    ),
    Task(
        name="bucc2018",
        role="target",
        format="bitext_mining",
        metric="bucc_f1",
        dev_key="f1",
        languages=("de", "fr", "ru", "zh"),
        dev_languages=("de", "fr", "ru", "zh"),  # the sample release; no English-only dev (retrieval is x-en)
        sources={
            # the hub copy keeps only gold pairs (no distractors) and puts sentence ids in the *_lang columns
            "validation": HubSource("google/xtreme", "bucc18.{lang}", "validation", _RETRIEVAL, _BUCC_COLUMNS),
            "test": HubSource("google/xtreme", "bucc18.{lang}", "test", _RETRIEVAL, _BUCC_COLUMNS),
        },
        local={
            "validation": LocalFile("bucc2018/{lang}-en.sample.gold", "bucc_files"),
            "test": LocalFile("bucc2018/{lang}-en.training.gold", "bucc_files"),
        },
        world="translation",
        xtreme=Xtreme("retrieval", "pairs", position=4),
        description="BUCC 2018: mine parallel sentences among distractors; threshold fitted on the sample (dev) gold",
    ),
    Task(
        name="mlm",
        role="intermediate",
        format="mlm",
        metric="token_accuracy",
        languages=("en",),
        train_languages=tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split()),
        sources={
            "train": HubSource("wikimedia/wikipedia", "20231101.{lang}", "train[:99%]", _WIKIPEDIA, {"text": "text"}),
            "validation": HubSource("wikimedia/wikipedia", "20231101.{lang}", "train[99%:]", _WIKIPEDIA,
                                    {"text": "text"}),
        },
        local={"train": LocalFile("mlm/{lang}.txt", "plain_text"),
               "validation": LocalFile("mlm/dev.{lang}.txt", "plain_text")},
        complexity=Complexity("language modelling", adversarial=False, train_size=None),
        group="multilingual MLM",
        world="text",
        description="Continued masked-LM on multilingual text (Wikipedia or your own text files), the paper's ablation",
    ),
    Task(
        name="mnli_mt",
        role="intermediate",
        format="classification",
        metric="accuracy",
        languages=("en",),
        train_languages=XNLI_LANGUAGES,
        sources={
            "train": HubSource("facebook/xnli", "{lang}", "train", _XNLI_MT, _NLI_COLUMNS),
            "validation": _glue("mnli", "validation_matched", _GLUE_MNLI, _NLI_COLUMNS),
        },
        local={"train": LocalFile("XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv", "xnli_mt_tsv"),
               "validation": LocalFile("MNLI/dev_matched.tsv", "glue_tsv")},
        labels=NLI_LABELS,
        label_aliases={"contradictory": "contradiction"},
        group="machine-translated",
        complexity=Complexity("inference", adversarial=False, train_size=392_702),  # per language
        world="nli",
        description="MultiNLI machine-translated (XNLI-MT-1.0 translate-train): 392,702 pairs in each of the 15 XNLI "
        "languages, English included; dev = English MNLI matched",
    ),
    Task(
        name="squad_mt",
        role="intermediate",
        format="span_qa",
        metric="squad",
        languages=("en",),
        train_languages=SQUAD_MT_LANGUAGES,
        sources={
            "train": HubSource("", None, "train", _SQUAD, _QA_COLUMNS),  # no hub copy: local files only
            "validation": _qa("rajpurkar/squad", "plain_text", "validation"),
        },
        local={"train": LocalFile("translate-train/squad.translate.train.en-{lang}.json", "squad_json"),
               "validation": LocalFile("dev-v1.1.json", "squad_json")},
        dev_key="f1",
        group="machine-translated",
        complexity=Complexity("reading comprehension", adversarial=False, train_size=None),  # per-file counts vary
        world="qa",
        description="SQuAD v1.1 machine-translated (XTREME translate-train, SQuAD JSON) into the 10 non-English "
        "XQuAD languages; dev = English SQuAD v1.1",
    ),
]

TASKS: dict[str, Task] = {task.name: task for task in _TASKS}
INTERMEDIATE_TASKS = [name for name, task in TASKS.items() if task.role == "intermediate"]
TARGET_TASKS = [name for name, task in TASKS.items() if task.role == "target"]
TASK_SOURCES = {name: task.data_sources() for name, task in TASKS.items()}  # for config validation (data.sources)
