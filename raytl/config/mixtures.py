"""`mixtures:`, named multi-task intermediate phases, and how each samples its tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from raytl.config.base import Strict, variants


class _Mixture(Strict):
    """A multi-task intermediate phase (the paper's "all tasks"): one head per task, each step's batch drawn from
    one task with probability proportional to the task's `weight`."""

    tasks: list[str] = Field(min_length=2, description="intermediate tasks trained together, one head each")
    sampling: str

    def weight(self, size: int) -> float:
        """A task's unnormalised sampling weight from its number of training examples: the size itself."""
        return float(size)


class ProportionalMixture(_Mixture):
    """`sampling: proportional` (the default): a task is drawn with probability proportional to its size."""

    sampling: Literal["proportional"] = Field("proportional", description="the default when sampling is left out")


class TemperatureMixture(_Mixture):
    """`sampling: temperature`: a task is drawn with probability proportional to size^(1/temperature)."""

    sampling: Literal["temperature"] = Field("temperature", description="size^(1/temperature)")
    temperature: PositiveFloat = Field(2.0, description="1 = proportional; larger flattens towards uniform")

    def weight(self, size: int) -> float:
        return float(size) ** (1.0 / self.temperature)


class CappedMixture(_Mixture):
    """`sampling: capped`: a task is drawn with probability proportional to min(size, cap)."""

    sampling: Literal["capped"] = Field("capped", description="min(size, cap)")
    cap: PositiveInt = Field(2**18, description="examples a task counts with at most")

    def weight(self, size: int) -> float:
        """A task counts with at most `cap` examples.

        >>> CappedMixture(tasks=["mnli", "mlm"], cap=100).weight(900)
        100.0
        """
        return float(min(size, self.cap))


# a `mixtures:` entry: the variant its `sampling` names (proportional when omitted)
MixtureConfig = variants("sampling", "proportional", ProportionalMixture, TemperatureMixture, CappedMixture)
