"""What a task is: a declarative entry. Behaviour lives in its format (see `raytl.tasks.formats`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Split = Literal["train", "validation", "test"]

# XTREME language codes -> English names, as hub configs spell them (google/xtreme `udpos.{language}`)
# XTREME language codes -> the ISO 639-3 codes the LASER Tatoeba files use
ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}

LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu", "vi": "Vietnamese",
    "yo": "Yoruba", "zh": "Chinese",
}


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class HubSource:
    """One split of a Hugging Face hub dataset, with its exact schema.

    `config`, `where` values may contain `{lang}`. `features` is the real column schema (name -> dtype): loaded data
    is checked against it and generated data is written in it. `columns` maps canonical names (what the format reads)
    to hub columns. `prefix` keeps one language's rows of a split that names the language only inside a value:
    column -> {lang: prefix} (TyDiQA ids start with `arabic-`, `english-`, ...). `config` may also contain
    `{language}`, the English language name (`udpos.{language}` -> `udpos.English`). `unlabelled` is the raw label
    of rows without a gold label (SNLI's -1): such rows are dropped. An empty `path` means there is no public hub
    copy (licensed data): the source then only fixes the schema that local readers and the generator write.

    >>> HubSource("nyu-mll/glue", "mnli", "validation_matched", features={"premise": "string"},
    ...           columns={"text_a": "premise"}).config_for("en")
    'mnli'
    """

    path: str
    config: str | None
    split: str
    features: Mapping[str, str]
    columns: Mapping[str, str]
    where: Mapping[str, str] = field(default_factory=_frozen)
    revision: str | None = None
    prefix: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    unlabelled: int | str | None = None

    def config_for(self, lang: str) -> str | None:
        return None if self.config is None else self.config.format(
            lang=lang, language=LANGUAGE_NAMES.get(lang, lang), iso3=ISO3.get(lang, lang)
        )

    def where_for(self, lang: str) -> dict[str, str]:
        return {column: value.format(lang=lang) for column, value in self.where.items()}

    def prefix_for(self, lang: str) -> dict[str, str]:
        return {column: by_language[lang] for column, by_language in self.prefix.items()}


@dataclass(frozen=True)
class LocalFile:
    """One split in the original release's file layout, under `data.dir`.

    `path` may contain `{lang}` (and `{iso3}` for Tatoeba); `reader` names a function in `raytl.tasks.readers.READERS`
    that returns the rows in the same schema as the split's `HubSource`, so one validation path serves both.
    """

    path: str
    reader: str


XTREME_CATEGORIES = ("classification", "tagging", "qa", "retrieval")
"""XTREME's four task categories, in its evaluator's order (the order of their keys in its JSON)."""


@dataclass(frozen=True)
class Xtreme:
    """How XTREME's official evaluator (`evaluate.py`) scores a target task; `raytl.tasks.scoring` reads nothing else.

    `category` is one of `XTREME_CATEGORIES`; a category's score is the mean of its tasks' scores, and the QA
    category's task score is (mean EM + mean F1) / 2. `files` names the layout of one language's label and
    prediction files (a loader in `raytl.tasks.scoring`): `label` one label per line, `index` one retrieved row
    index per line, `pairs` `source_id<TAB>target_id` per line, `tags` one tag per line with a blank line after
    each sentence, `qa` SQuAD JSON labels and `{question_id: answer}` predictions. `position` is the task's place
    in evaluate.py's task order, which orders its JSON and the sum behind its overall score. The languages it scores
    are the task's `languages`, in their order (the evaluator's too, so averages are equal bit for bit).

    >>> Xtreme("qa", "qa", 6).category
    'qa'
    """

    category: str
    files: Literal["label", "index", "pairs", "tags", "qa"]
    position: int

    def __post_init__(self) -> None:
        if self.category not in XTREME_CATEGORIES:
            raise ValueError(f"XTREME category '{self.category}'; allowed: {', '.join(XTREME_CATEGORIES)}")


REASONING_RANK = {
    "language modelling": 0, "sentiment": 1, "syntax": 1, "paraphrase": 2, "inference": 2,
    "reading comprehension": 3, "commonsense": 3,
}
"""What an intermediate task asks of the encoder, ranked: 0 no labels (masked-LM); 1 one text's polarity or each
token's category (local, mostly lexical or syntactic cues); 2 the relation between two sentences; 3 reasoning over
a passage or about everyday situations (the answer is not in one sentence's surface)."""


@dataclass(frozen=True)
class Complexity:
    """How demanding an intermediate task is, and what that rests on (see `REASONING_RANK`).

    `level` = the reasoning rank, plus one when the data was built adversarially (collected or filtered against a
    model, so that the models of its time fail: ANLI's human-and-model-in-the-loop rounds, HellaSwag's adversarial
    filtering), which makes it harder than the same reasoning without. `train_size` is the number of English
    training examples (rows after dropping unlabelled ones), kept beside the level because it is confounded with
    it (9,741 to 1,104,934); None where the data is the user's own (CCGbank, MLM text).

    >>> Complexity("inference", adversarial=True, train_size=1_104_934).level
    3
    """

    reasoning: str
    adversarial: bool
    train_size: int | None

    def __post_init__(self) -> None:
        if self.reasoning not in REASONING_RANK:
            raise ValueError(f"reasoning '{self.reasoning}'; allowed: {', '.join(REASONING_RANK)}")

    @property
    def level(self) -> int:
        return REASONING_RANK[self.reasoning] + int(self.adversarial)

    def label(self) -> str:
        """One short cell, e.g. `L3 inference, adversarial, 1,104,934 train`."""
        size = "train size: user's data" if self.train_size is None else f"{self.train_size:,} train"
        return f"L{self.level} {self.reasoning}{', adversarial' if self.adversarial else ''}, {size}"


@dataclass(frozen=True)
class Task:
    """A task: data sources per split, format, metric, languages. Adding a task is adding one of these.

    `languages` are the evaluation languages (the test languages of a target, in the order of XTREME's evaluator;
    `("en",)` for an intermediate task).
    `labels` are the label names in index order, spelled as XTREME's submission files spell them.
    `world` names the generated-data family whose signal this task shares (tasks in one world transfer).
    `more_sources` are further sources of a split, each loaded and canonicalised like the main one and appended after
    it in order (ANLI+ = ANLI r1-r3 + MNLI + SNLI); `more_local` are their original files, one per further source in
    the same order (read like `local`, canonicalised with the matching source's schema). `shape` names a row
    conversion in `raytl.tasks.shapes.SHAPES` for tasks whose canonical columns are built from several hub columns:
    `columns` then renames hub columns to the names the shape reads. `label_file` (under `data.dir`, one label per
    line) supplies `labels` at load time for tasks whose label set comes with the user's data (CCG supertags);
    `labels` is then empty in the entry.
    `dev_languages` are the languages in which the task's `validation` split is dev data of its own (what
    `selection: target_dev` reads); `dev_from` names the task whose dev data selects for a task that has none
    (Tatoeba selects on BUCC's sample release). No decision ever reads the `test` split.
    `complexity` is set on every intermediate task (and on no target): the report fits gain against it.
    `xtreme` is set on XTREME's nine targets: how its official evaluator scores them (`raytl score`).
    """

    name: str
    role: Literal["intermediate", "target"]
    format: str
    metric: str
    languages: tuple[str, ...]
    sources: Mapping[Split, HubSource]
    local: Mapping[Split, LocalFile] = field(default_factory=_frozen)
    labels: tuple[str, ...] = ()
    label_aliases: Mapping[str, str] = field(default_factory=_frozen)
    train_languages: tuple[str, ...] = ("en",)  # several for multilingual MLM; every other task trains on English
    dev_key: str = "accuracy"  # which of the metric's values selects checkpoints on English dev
    group: str = ""
    world: str = ""
    description: str = ""
    more_sources: Mapping[Split, tuple[HubSource, ...]] = field(default_factory=lambda: MappingProxyType({}))
    more_local: Mapping[Split, tuple[LocalFile, ...]] = field(default_factory=lambda: MappingProxyType({}))
    shape: str = ""
    label_file: str = ""
    complexity: Complexity | None = None
    dev_languages: tuple[str, ...] = ("en",)
    dev_from: str = ""
    xtreme: Xtreme | None = None

    def selection_languages(self, selection: str) -> tuple[str, ...]:
        """The dev languages a selection protocol reads: `en_dev` (XTREME's, truly zero-shot) English dev where the
        task has one; `target_dev`, and `en_dev` for a task without English dev (BUCC), its dev data in every
        language that has some (`dev_languages`).

        >>> Task("x", "target", "classification", "accuracy", ("de", "en"), {}, dev_languages=("de", "en")
        ...      ).selection_languages("target_dev")
        ('de', 'en')
        """
        if selection == "en_dev" and "en" in self.dev_languages:
            return ("en",)
        return self.dev_languages

    def source(self, split: Split) -> HubSource:
        if split not in self.sources:
            raise KeyError(f"task '{self.name}' has no '{split}' split; it has: {', '.join(self.sources)}")
        return self.sources[split]

    def parts(self, split: Split) -> tuple[HubSource, ...]:
        """Every source of a split in load order: the main one, then `more_sources`."""
        return (self.source(split), *self.more_sources.get(split, ()))

    def local_parts(self, split: Split) -> tuple[LocalFile, ...]:
        """The original files of a split, one per source of `parts(split)`, in the same order."""
        return (self.local[split], *self.more_local.get(split, ())) if split in self.local else ()

    def data_sources(self) -> tuple[str, ...]:
        """Which `data.source` values can serve every split: `hub` when each source has a public copy, `local`
        when each split has its original files, `generated` always.

        >>> from raytl.tasks import TASKS
        >>> TASKS["ccg"].data_sources(), TASKS["xnli"].data_sources()
        (('local', 'generated'), ('hub', 'local', 'generated'))
        """
        hub = all(part.path for split in self.sources for part in self.parts(split))
        local = bool(self.local) and all(len(self.local_parts(s)) == len(self.parts(s)) for s in self.sources)
        return (*(("hub",) if hub else ()), *(("local",) if local else ()), "generated")

    def origins(self, source: str) -> list[str]:
        """Where `source` reads this task from: hub repositories, or original files relative to `data.dir`."""
        if source == "hub":
            places = [part.path for split in self.sources for part in self.parts(split)]
        else:
            places = [local.path for split in self.local for local in self.local_parts(split)]
            places += [self.label_file] if self.label_file else []
        return list(dict.fromkeys(places)) if source != "generated" else []

    def label_index(self, value: int | str) -> int:
        """Map a raw label (an index, or a name as the source spells it) to its index in `labels`."""
        if isinstance(value, str):
            name = self.label_aliases.get(value, value)
            if name not in self.labels:
                raise ValueError(f"label '{value}' of task '{self.name}'; allowed: {', '.join(self.labels)}")
            return self.labels.index(name)
        if not 0 <= value < len(self.labels):
            raise ValueError(f"label {value} of task '{self.name}'; allowed: 0..{len(self.labels) - 1}")
        return int(value)
