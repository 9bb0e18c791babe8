"""The model zoo: XLM-R sizes with their defaults, tiny configs built offline for tests and the quickstart, and any
hub encoder by name (`hub:google/rembert`, `hub:owner/name@<branch, tag or commit>`, or `hub:/path/to/model_dir`).

Light to import (no torch): `raytl plan` reads it before anything heavy loads; a `hub:` name loads transformers
only when it is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from raytl.config import HUB_PREFIX, split_hub_name

ZERO3_FROM_PARAMS = 2_000_000_000  # hub models this big default to ZeRO-3 (XLM-R XL and XXL do)
TINY_VOCAB_SIZE = 1000  # the tiny models' BPE vocabulary (raytl/models/tokenizer.py trains it to this size)
XLMR_POSITIONS = 514  # XLM-R's max_position_embeddings: 512 tokens after the padding index's offset
BUILT_TYPE_VOCAB = 2  # token types of encoders built from config (transformers' default; XLM-R checkpoints have 1)
# jiant, the paper's toolkit, embeds BUCC and Tatoeba with hidden_states[14] of XLM-R Large's 24 layers
JIANT_RETRIEVAL_LAYER, JIANT_DEPTH = 14, 24


@dataclass(frozen=True)
class ModelEntry:
    """One encoder. `hub_id` None means built from config (tiny test models, no download); a hub id may also be a
    local model directory. `params` counts the encoder without pooler or LM head.

    >>> ZOO["large"].hub_id
    'FacebookAI/xlm-roberta-large'
    """

    name: str
    hub_id: str | None
    params: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    vocab_size: int
    zero_stage: int
    precision: str  # on GPUs; CPU always trains in fp32
    offload: str = "none"
    trust_remote_code: bool = False  # run code from the model's hub repository (only when the YAML says so)
    revision: str | None = None  # hub branch, tag or commit of config, weights and tokenizer; None = main

    @property
    def built_from_config(self) -> bool:
        return self.hub_id is None

    @property
    def largest_layer_params(self) -> int:
        """Parameters of the largest single module (what ZeRO-3 gathers at once): the embedding matrix or an FFN
        projection, whichever is bigger."""
        return max(self.vocab_size * self.hidden_size, (self.hidden_size + 1) * self.intermediate_size)


def xlmr_params(hidden: int, layers: int, intermediate: int, vocab: int, type_vocab: int = 1) -> int:
    """Parameters of an XLM-R encoder without pooler: embeddings (words, positions, token types, LayerNorm), then
    per layer the attention (Q, K, V, output, with biases), its LayerNorm, the FFN's two projections and their
    LayerNorm.

    >>> xlmr_params(1024, 24, 4096, 250_002) == ZOO["large"].params, xlmr_params(768, 12, 3072, 250_002)
    (True, 277453056)
    """
    embeddings = (vocab + XLMR_POSITIONS + type_vocab) * hidden + 2 * hidden
    attention = 4 * hidden * hidden + 4 * hidden + 2 * hidden
    ffn = 2 * hidden * intermediate + intermediate + hidden + 2 * hidden
    return embeddings + layers * (attention + ffn)


def _built(name: str, hidden: int, layers: int, heads: int, intermediate: int) -> ModelEntry:
    """A tiny encoder built from config (`raytl.models.task_model.random_encoder`) with the tiny vocabulary."""
    params = xlmr_params(hidden, layers, intermediate, TINY_VOCAB_SIZE, BUILT_TYPE_VOCAB)
    return ModelEntry(name, None, params, hidden, layers, heads, intermediate, TINY_VOCAB_SIZE, zero_stage=2,
                      precision="fp32")


def size_label(params: int) -> str:
    """A parameter count as reports and plans print it, three significant digits.

    >>> size_label(ZOO["tiny"].params), size_label(ZOO["tiny4"].params), size_label(ZOO["base"].params)
    ('0.164M', '3.55M', '277M')
    >>> size_label(ZOO["xxl"].params)
    '10.7B'
    """
    if round(params, -6) < 1e9:  # 999.6M reads as 1B, not 1e+03M
        return f"{params / 1e6:.3g}M"
    return f"{params / 1e9:.3g}B"


ZOO: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        _built("tiny", 64, 2, 2, 128),
        _built("tiny4", 256, 4, 4, 1024),
        ModelEntry("base", "FacebookAI/xlm-roberta-base", 277_453_056, 768, 12, 12, 3072, 250_002, 2, "bf16"),
        ModelEntry("large", "FacebookAI/xlm-roberta-large", 558_840_832, 1024, 24, 16, 4096, 250_002, 2, "bf16"),
        ModelEntry("xl", "facebook/xlm-roberta-xl", 3_475_929_600, 2560, 36, 32, 10240, 250_880, 3, "bf16"),
        ModelEntry("xxl", "facebook/xlm-roberta-xxl", 10_695_954_432, 4096, 48, 32, 16384, 250_880, 3, "bf16"),
    ]
}


def retrieval_layer(entry: ModelEntry, configured: int | None = None) -> int:
    """The `hidden_states` index BUCC and Tatoeba embed with: `configured` (`retrieval.layer`) when set, else jiant's
    relative depth, 14/24 of the model's layers rounded half up (integer arithmetic, no float ties).

    tiny 2 -> 1, tiny4 4 -> 2, base 12 -> 7, large 24 -> 14 (jiant's own), xl 36 -> 21, xxl 48 -> 28.
    Raises ValueError when `configured` is deeper than the model.

    >>> retrieval_layer(ZOO["large"]), retrieval_layer(ZOO["xxl"]), retrieval_layer(ZOO["large"], 12)
    (14, 28, 12)
    """
    if configured is None:
        return (2 * JIANT_RETRIEVAL_LAYER * entry.layers + JIANT_DEPTH) // (2 * JIANT_DEPTH)
    if configured > entry.layers:
        raise ValueError(f"{configured} is deeper than {entry.name} ({entry.layers} layers); allowed: 0 (embeddings)"
                         f" to {entry.layers}, or unset for {retrieval_layer(entry)}")
    return configured


def is_hub_name(name: str) -> bool:
    """`hub:<hub id>[@<revision>]` or `hub:<model directory>` names any Hugging Face encoder.

    >>> is_hub_name("hub:google/rembert"), is_hub_name("large")
    (True, False)
    """
    return name.startswith(HUB_PREFIX) and len(name) > len(HUB_PREFIX)


def resolve_model(name: str, trust_remote_code: bool = False) -> ModelEntry:
    """The zoo entry of `name`, or one read from a hub model's config (cached per process).

    >>> resolve_model("large").layers
    24
    """
    if name in ZOO:
        return ZOO[name]
    if not is_hub_name(name):
        raise KeyError(f"unknown model '{name}'; allowed: {', '.join(ZOO)}, or {HUB_PREFIX}<hub id or directory>")
    return _hub_entry(name, trust_remote_code)


@cache
def _hub_entry(name: str, trust_remote_code: bool) -> ModelEntry:
    from raytl.models.hub import dimensions  # transformers and torch, only for hub names

    hub_id, revision = split_hub_name(name)
    sizes = dimensions(hub_id, trust_remote_code, revision)
    return ModelEntry(name=name, hub_id=hub_id, **sizes, zero_stage=3 if sizes["params"] >= ZERO3_FROM_PARAMS else 2,
                      precision="bf16", trust_remote_code=trust_remote_code, revision=revision)
