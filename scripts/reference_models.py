"""docs/reference/models.md: the model zoo (raytl/models/zoo.py), every entry with its shape, exact parameter count,
default ZeRO stage and precision, and the layer BUCC and Tatoeba embed with."""

from __future__ import annotations

from raytl.models.zoo import HUB_PREFIX, ZOO, ModelEntry, retrieval_layer, size_label
from scripts.markdown_text import table

INTRO = f"""# Models

Generated from `raytl/models/zoo.py` by `python -m scripts.gen_reference`. A search space names these in `models:`;
any other Hugging Face encoder is `{HUB_PREFIX}<hub id>[@<revision>]` or `{HUB_PREFIX}<model directory>` (its entry is
read from its config; see "Models at scale" in the guides). Parameters count the encoder without pooler or LM
head, exactly (the XLM-R shape formula `xlmr_params`; tests count each hub entry's encoder built from its config on the
meta device, and the tiny ones as built). Precision
is the one used on GPUs; on CPU every model trains in fp32.
"""


def _source(entry: ModelEntry) -> str:
    return "built from config (tests, quickstart)" if entry.built_from_config else f"`{entry.hub_id}`"


def page() -> str:
    rows = [[f"`{e.name}`", _source(e), f"{e.params:,}", size_label(e.params), f"{e.hidden_size} x {e.layers}",
             str(e.heads), f"{e.intermediate_size:,}", f"{e.vocab_size:,}", str(e.zero_stage), e.precision,
             str(retrieval_layer(e))]
            for e in ZOO.values()]
    header = ["name", "weights", "parameters", "size", "hidden x layers", "heads", "FFN", "vocabulary",
              "ZeRO stage", "precision", "retrieval layer"]
    return INTRO + "\n" + table(header, rows)
