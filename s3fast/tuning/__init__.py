"""Auto-tuning: reach a target Gbps with as few requests as it takes, within a memory cap,
under a bandwidth cap, backing off when S3 says SlowDown.

Pure parts (no clock, no I/O): :class:`Controller` (one :meth:`~Controller.step` per measurement
window), :func:`memory_cap_concurrency`. Runtime parts, clocks injected: :class:`ThroughputMeter`,
:class:`ConcurrencyLimiter`, :class:`TokenBucket` and the :class:`Tuner` that ties them together.
Simulation helpers for tests and benchmark plots: :class:`SimulatedLink`,
:func:`simulate_controller`, :func:`run_virtual`.
"""
from __future__ import annotations

from ..config._tuner import TunerConfig
from ._controller import Controller, Decision, Phase, Reason
from ._goal import Goal
from ._limiter import ConcurrencyLimiter, TokenBucket
from ._memory import memory_cap_concurrency
from ._meter import ThroughputMeter
from ._platform import DEFAULT_TARGET_GBPS, default_target_gbps, is_ec2
from ._sample import HistoryPoint, Sample
from ._tuner import Tuner, TunerSnapshot

_SIM = ("SimulatedLink", "VirtualTimeLoop", "run_virtual", "simulate_controller")


def __getattr__(name: str) -> object:
    # The simulation helpers are for tests and benchmark plots: loaded on first use, so
    # they cost nothing at start-up.
    if name in _SIM:
        from . import _sim

        return getattr(_sim, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    # configuration and the pure controller
    "TunerConfig",
    "Goal",
    "Controller",
    "Decision",
    "Phase",
    "Reason",
    "Sample",
    "memory_cap_concurrency",
    "default_target_gbps",
    "is_ec2",
    "DEFAULT_TARGET_GBPS",
    # runtime
    "Tuner",
    "TunerSnapshot",
    "HistoryPoint",
    "ThroughputMeter",
    "ConcurrencyLimiter",
    "TokenBucket",
    # simulation
    "SimulatedLink",
    "simulate_controller",
    "VirtualTimeLoop",
    "run_virtual",
]
