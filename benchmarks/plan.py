"""The run order (pure): targets, then workloads, then repetitions, runners alternating inside.

Within one repetition every runner runs once, so run i of each runner happened close together
in time and can be paired for ratios. The order rotates from one repetition to the next
(A B C, B C A, C A B ...): a run inherits the machine its predecessor left behind (page
cache, dirty pages, CPU frequency), and a fixed order would hand the same neighbour to the
same runner every time. Unsupported runner/workload combinations are reported once as
skipped instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .runners import RunnerSpec, run_label
from .workloads import Workload


@dataclass(frozen=True)
class PlannedRun:
    target: str
    workload: Workload
    runner: str
    mode: str
    rep: int

    @property
    def label(self) -> str:
        return run_label(self.runner, self.mode)

    def __repr__(self) -> str:
        return f"<PlannedRun {self.target}/{self.workload.name}/{self.label} rep={self.rep}>"


@dataclass(frozen=True)
class Skipped:
    runner: str
    workload: str
    reason: str


def plan_runs(
    targets: Sequence[str],
    workloads: Sequence[Workload],
    runners: Sequence[RunnerSpec],
    modes: Sequence[str],
    repeat: int,
) -> tuple[list[PlannedRun], list[Skipped]]:
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    runs: list[PlannedRun] = []
    skipped: dict[tuple[str, str], Skipped] = {}
    for target in targets:
        for workload in workloads:
            eligible = []
            for spec in runners:
                reason = spec.supports(workload)
                if reason is None:
                    eligible.append(spec)
                else:
                    skipped.setdefault((spec.name, workload.name), Skipped(spec.name, workload.name, reason))
            for rep in range(repeat):
                shift = rep % len(eligible) if eligible else 0
                for spec in eligible[shift:] + eligible[:shift]:
                    for mode in modes:
                        runs.append(PlannedRun(target, workload, spec.name, mode, rep))
    return runs, list(skipped.values())
