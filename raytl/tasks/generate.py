"""Offline data in the exact schema of the real sources, with learnable, partly transferable signal.

A seeded synthetic lexicon renders "concepts" as words in every language: about half share an English stem plus a
language affix (cognates the sub-word tokenizer can align), the rest have their own stem. Each task belongs to a
`world` whose cue concepts decide the label, so a model trained on English learns cues that transfer partially to
other languages, and tasks of one world (MNLI and XNLI, QQP and PAWS-X) help each other as intermediate tasks.
Formats turn the lexicon into canonical examples; `render` writes them in a source's hub schema.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from raytl.tasks.entry import HubSource, Task

_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u"]
N_CONCEPTS = 400
CUES_PER_LABEL = 6
COGNATE_SHARE = 0.5


def stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _syllables(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(count))


@lru_cache(maxsize=64)
def lexicon(lang: str) -> tuple[str, ...]:
    """Surface form of every concept in `lang` (index = concept id)."""
    english = random.Random(stable_seed("lexicon", "en"))
    stems = [_syllables(english, 2) for _ in range(N_CONCEPTS)]
    if lang == "en":
        return tuple(stems)
    rng = random.Random(stable_seed("lexicon", lang))
    affix = _syllables(rng, 1)
    return tuple(
        (stem if rng.random() < COGNATE_SHARE else _syllables(rng, 2)) + affix for stem in stems
    )


def cue_concepts(world: str, num_labels: int) -> list[list[int]]:
    """Disjoint sets of cue concepts, one set per label, fixed per world."""
    rng = random.Random(stable_seed("cues", world))
    chosen = rng.sample(range(N_CONCEPTS), num_labels * CUES_PER_LABEL)
    return [chosen[i * CUES_PER_LABEL : (i + 1) * CUES_PER_LABEL] for i in range(num_labels)]


def filler(rng: random.Random, lang: str, count: int, avoid: set[int]) -> list[str]:
    words = lexicon(lang)
    picks: list[str] = []
    while len(picks) < count:
        concept = rng.randrange(N_CONCEPTS)
        if concept not in avoid:
            picks.append(words[concept])
    return picks


def corpus(languages: list[str], sentences_per_language: int = 300) -> Iterator[str]:
    """Plain text in every language, for training a tiny tokenizer offline."""
    for lang in languages:
        rng = random.Random(stable_seed("corpus", lang))
        words = lexicon(lang)
        yield " ".join(words)
        for _ in range(sentences_per_language):
            yield " ".join(rng.choice(words) for _ in range(rng.randint(4, 16)))


def render(rows: list[Mapping[str, Any]], source: HubSource, task: Task, lang: str) -> dict[str, list[Any]]:
    """Write canonical rows in the source's hub schema (column names, dtypes, label spelling, filter columns)."""
    hub_to_canonical = {hub: canonical for canonical, hub in source.columns.items()}
    fixed, prefixes = source.where_for(lang), source.prefix_for(lang)
    table: dict[str, list[Any]] = {column: [] for column in source.features}
    for index, row in enumerate(rows):
        for column, dtype in source.features.items():
            if column in fixed:
                value: Any = fixed[column]
            elif column in hub_to_canonical:
                value = row[hub_to_canonical[column]]
                if hub_to_canonical[column] == "label" and dtype == "string":
                    value = task.labels[value]
            else:
                value = _placeholder(dtype, f"{task.name}-{lang}-{index}", index)
            table[column].append(prefixes[column] + value if column in prefixes else value)
    return table


def _placeholder(dtype: str, text: str, index: int) -> Any:
    """A value of the right type for a column no canonical column fills (ids, per-token `langs`, ...)."""
    if dtype.startswith("list"):
        return []
    return index if dtype.startswith("int") else text
