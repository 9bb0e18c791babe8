"""On-disk cache of loaded and tokenised data, keyed by everything that determines it.

A second trial (or worker, or phase) needing the same (task, split, language, tokenizer, max length, format,
data settings) memory-maps Arrow files instead of loading and tokenising again. Writes go to a temporary
directory renamed into place, so concurrent workers never read a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

CACHE_VERSION = 1  # bump when encoding changes what it writes


def cache_root() -> Path:
    return Path(os.environ.get("RAYTL_CACHE_DIR", Path.home() / ".cache" / "raytl")) / "features"


@cache
def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of the tokenizer's full definition (vocabulary, merges, normalisation, special tokens)."""
    definition = tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast else json.dumps(tokenizer.get_vocab())
    return hashlib.sha256(definition.encode()).hexdigest()[:16]


def cache_key(**parts: Any) -> str:
    return hashlib.sha256(json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, default=str).encode()).hexdigest()


def cached(key: str, build: Callable[[], tuple[Dataset, Dataset]]) -> tuple[Dataset, Dataset]:
    """(examples, features) for `key`, built once and memory-mapped afterwards."""
    entry = cache_root() / key[:2] / key
    if (entry / "done").is_file():
        return load_from_disk(str(entry / "examples")), load_from_disk(str(entry / "features"))
    examples, features = build()
    tmp = entry.with_name(f".tmp-{key}-{uuid.uuid4().hex[:8]}")
    examples.save_to_disk(str(tmp / "examples"))
    features.save_to_disk(str(tmp / "features"))
    (tmp / "done").write_text("")
    try:
        os.replace(tmp, entry)
    except OSError:  # another worker published the same entry first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return load_from_disk(str(entry / "examples")), load_from_disk(str(entry / "features"))
