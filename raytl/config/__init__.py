"""The search-space file: one pydantic model, validated once at the CLI edge.

Everything behind the edge receives a typed `SearchSpace`, never a raw dict. Names of tasks and models are checked
against the registries the caller passes in the validation context, so this package imports nothing heavy and a
bad file fails in milliseconds, before Ray starts.

>>> phase = {"lr": {"low": 1e-5, "high": 1e-5}, "max_steps": 10}
>>> space = parse_space({"name": "demo", "models": ["tiny"], "intermediate_tasks": ["none"], "targets": ["xnli"],
...                      "intermediate": phase, "target": phase}, "space.yaml", models=["tiny", "large"])
>>> space.storage, space.target.max_length
('runs', 128)
>>> parse_space({"name": "demo", "models": ["xlmr-huge"]}, "space.yaml", models=["tiny", "large"])
Traceback (most recent call last):
raytl.errors.InputError: space.yaml: models: unknown model 'xlmr-huge'; allowed: tiny, large, hub:...

`load_space(path, ...)` reads and checks a YAML file the same way.

Modules, lowest first: `base` (the strict model every section derives from, the tagged-union helper), `names`
(the baseline's name, hub model names, name checks), `phases` (a training phase, its per-target override),
`sections` (data, retrieval, resources, deepspeed, tracking, search), `schedulers`, `mixtures`, `space`
(`SearchSpace` and its cross-key checks), `loading` (file -> `SearchSpace` or one error line). Import from
`raytl.config`: every name the rest of raytl uses is here.
"""

from __future__ import annotations

from raytl.config.loading import load_space, parse_space
from raytl.config.mixtures import CappedMixture, MixtureConfig, ProportionalMixture, TemperatureMixture
from raytl.config.names import HUB_PREFIX, HUB_REVISION, NO_INTERMEDIATE, split_hub_name
from raytl.config.phases import NOT_OVERRIDABLE, Equalise, LogRange, PhaseConfig, PhaseOverride
from raytl.config.schedulers import AshaScheduler, HyperbandScheduler, NoScheduler, SchedulerConfig
from raytl.config.sections import (
    DataConfig,
    DataSource,
    DeepSpeedConfig,
    ResourcesConfig,
    RetrievalConfig,
    SearchConfig,
    TrackingConfig,
)
from raytl.config.space import RENAMED_KEYS, SearchSpace

__all__ = [
    "HUB_PREFIX", "HUB_REVISION", "NOT_OVERRIDABLE", "NO_INTERMEDIATE", "RENAMED_KEYS",
    "AshaScheduler", "CappedMixture", "DataConfig", "DataSource", "DeepSpeedConfig", "Equalise", "HyperbandScheduler",
    "LogRange", "MixtureConfig", "NoScheduler", "PhaseConfig", "PhaseOverride", "ProportionalMixture",
    "ResourcesConfig", "RetrievalConfig", "SchedulerConfig", "SearchConfig", "SearchSpace",
    "TemperatureMixture", "TrackingConfig", "load_space", "parse_space", "split_hub_name",
]
