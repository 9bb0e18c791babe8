"""`scheduler:`, the early stopping of trials: ASHA (the default), asynchronous Hyperband, or none."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from raytl.config.base import Strict, variants


class _Halving(Strict):
    """Multi-fidelity early stopping over target-phase steps (the time attribute survives a resume)."""

    type: str
    grace_period: PositiveInt = Field(1, description="evaluations before a trial may be stopped")
    reduction_factor: float = Field(3.0, gt=1, description="1/reduction_factor of the trials at a rung continue "
                                    "to the next, reduction_factor times longer")
    max_t: PositiveInt | None = Field(
        None, description="target-phase steps of a whole trial (all targets); default: the sum of the targets' "
        "max_steps when every target sets it, else unbounded"
    )


class AshaScheduler(_Halving):
    """`type: asha` (the default): one bracket of asynchronous successive halving."""

    type: Literal["asha"] = Field("asha", description="the default when scheduler or its type is left out")


class HyperbandScheduler(_Halving):
    """`type: hyperband`: asynchronous Hyperband, `brackets` brackets of ASHA with staggered grace periods (Tune's
    synchronous HyperBand pauses trials, which here would tear down and rebuild every paused trial's Train workers,
    so it is not offered)."""

    type: Literal["hyperband"] = Field("hyperband", description="asynchronous Hyperband")
    brackets: PositiveInt = Field(3, description="number of ASHA brackets")


class NoScheduler(Strict):
    """`type: none`: every trial runs to its end (FIFO); no other key."""

    type: Literal["none"] = Field("none", description="no early stopping")


# `scheduler:` the variant its `type` names (asha when omitted, as when `scheduler` itself is)
SchedulerConfig = variants("type", "asha", AshaScheduler, HyperbandScheduler, NoScheduler)
