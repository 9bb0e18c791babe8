"""The model zoo: XLM-R sizes with their defaults, and tiny configs built offline for tests and the quickstart.

Light to import (no torch): `raytl plan` reads it before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    """One encoder. `hub_id` None means built from config (tiny test models, no download).

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

    @property
    def built_from_config(self) -> bool:
        return self.hub_id is None


ZOO: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry("tiny", None, 0, 64, 2, 2, 128, 0, zero_stage=2, precision="fp32"),
        ModelEntry("tiny4", None, 0, 256, 4, 4, 1024, 0, zero_stage=2, precision="fp32"),
        ModelEntry("base", "FacebookAI/xlm-roberta-base", 278_000_000, 768, 12, 12, 3072, 250_002, 2, "bf16"),
        ModelEntry("large", "FacebookAI/xlm-roberta-large", 560_000_000, 1024, 24, 16, 4096, 250_002, 2, "bf16"),
        ModelEntry("xl", "facebook/xlm-roberta-xl", 3_480_000_000, 2560, 36, 32, 10240, 250_880, 3, "bf16"),
        ModelEntry("xxl", "facebook/xlm-roberta-xxl", 10_700_000_000, 4096, 48, 32, 16384, 250_880, 3, "bf16"),
    ]
}
