"""The run order (pure): targets, then workloads, then repetitions, runners alternating inside.

Within one repetition every runner runs once, so run i of each runner happened close together
in time and can be paired for ratios. A run inherits the machine its predecessor left
behind (page cache, dirty pages, freed extents, CPU frequency), so the orders form a
Williams design: across repetitions every runner follows every other runner equally often
(each ordered pair once per ``n`` repetitions, ``2n`` when ``n`` is odd). Plain rotation
(A B C, B C A, C A B) keeps cyclic neighbours: the runner after s5cmd was always the same
one, and it paid for s5cmd's 2 GiB download every time (+1.4 s of kernel CPU, measured).
Unsupported runner/workload combinations are reported once as skipped instead of failing.
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
                for i in williams_order(len(eligible), rep):
                    spec = eligible[i]
                    for mode in modes:
                        runs.append(PlannedRun(target, workload, spec.name, mode, rep))
    return runs, list(skipped.values())


def williams_order(n: int, rep: int) -> list[int]:
    """Row ``rep`` of a Williams design for ``n`` treatments (carry-over balanced: over a
    full cycle of rows each treatment is preceded by each other one equally often)."""
    if n <= 0:
        return []
    base = [0]
    lo, hi = 1, n - 1
    while len(base) < n:  # 0, 1, n-1, 2, n-2, ...
        base.append(lo)
        lo += 1
        if len(base) < n:
            base.append(hi)
            hi -= 1
    k = rep % (n if n % 2 == 0 else 2 * n)
    row = [(x + k) % n for x in base]
    return row[::-1] if k >= n else row
