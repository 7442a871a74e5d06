"""The contract between the harness and a runner: a :class:`Job` in, a :class:`RunnerOutput` out.

Python runners implement ``run(job) -> RunnerOutput`` and execute inside a fresh interpreter
(:mod:`benchmarks.runners.child`). Executable runners (s5cmd, the s3fast CLI) implement
``command(job, workdir) -> (argv, env)`` and ``parse(job, stdout, stderr) -> RunnerOutput``;
the harness runs the binary itself. Either way the harness measures the child process with
``os.wait4`` and verifies the data afterwards, outside the timed region.
"""
from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..stats import latency_summary
from ..targets.base import Endpoint

Mode = Literal["default", "matched"]


@dataclass(frozen=True)
class Job:
    """One run of one runner on one workload.

    ``paths`` are the upload sources (also for memory uploads: loaded into RAM before the
    clock starts) or the download destinations (disk storage only). ``concurrency`` and
    ``part_size`` are None in ``default`` mode: the runner keeps its shipped defaults.
    """

    runner: str
    mode: Mode
    direction: Literal["upload", "download"]
    storage: Literal["disk", "memory"]
    endpoint: Endpoint
    keys: tuple[str, ...]
    paths: tuple[str, ...]
    object_size: int
    concurrency: int | None = None
    part_size: int | None = None
    timeout_s: float = 600.0

    @property
    def total_bytes(self) -> int:
        return self.object_size * len(self.keys)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["endpoint"] = self.endpoint.to_json()
        data["keys"] = list(self.keys)
        data["paths"] = list(self.paths)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        fields = dict(data)
        fields["endpoint"] = Endpoint.from_json(fields["endpoint"])
        fields["keys"] = tuple(fields["keys"])
        fields["paths"] = tuple(fields["paths"])
        return cls(**fields)

    def url(self, index: int) -> str:
        return f"s3://{self.endpoint.bucket}/{self.keys[index]}"

    def __repr__(self) -> str:
        return (
            f"<Job {self.runner}@{self.mode} {self.direction}/{self.storage} "
            f"{len(self.keys)} x {self.object_size} B -> {self.endpoint.target}>"
        )


@dataclass
class RunnerOutput:
    """What a runner reports about itself. Missing facts stay None (never guessed)."""

    seconds: float | None = None  # the runner's own timed region; None: use process wall time
    bytes: int | None = None
    cpu_s_timed: float | None = None  # this process's CPU inside the timed region
    checksums: list[int] | None = None  # CRC64-NVME per object, memory downloads only
    requests: int | None = None
    retries: int | None = None
    parts: int | None = None
    latency_ms: dict[str, Any] | None = None
    ttfb_ms: dict[str, Any] | None = None
    per_ip: dict[str, Any] | None = None
    native: bool | None = None
    vm_hwm_kib: int | None = None  # the runner process's own peak RSS, read at its end
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunnerOutput:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


class TimedRegion:
    """Wall clock and process CPU between ``__enter__`` and ``__exit__`` (no I/O of its own)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.start = 0.0
        self.seconds = 0.0
        self.cpu_s = 0.0
        self._cpu0 = 0.0

    def __enter__(self) -> TimedRegion:
        self._cpu0 = _cpu_now()
        self.start = self._clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = self._clock() - self.start
        self.cpu_s = _cpu_now() - self._cpu0

    def __repr__(self) -> str:
        return f"<TimedRegion {self.seconds:.3f}s cpu={self.cpu_s:.3f}s>"


class ObjectClock:
    """Per-object submit/first-byte/done times, for object-level latency and TTFB."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.submitted: dict[int, float] = {}
        self.first_byte: dict[int, float] = {}
        self.done: dict[int, float] = {}

    def submit(self, i: int) -> None:
        self.submitted[i] = self._clock()

    def byte(self, i: int) -> None:
        if i not in self.first_byte:
            self.first_byte[i] = self._clock()

    def finish(self, i: int) -> None:
        self.done[i] = self._clock()

    def latency_ms(self) -> dict[str, Any] | None:
        samples = [(self.done[i] - t) * 1000 for i, t in self.submitted.items() if i in self.done]
        return latency_summary(samples, "object") if samples else None

    def ttfb_ms(self) -> dict[str, Any] | None:
        samples = [
            (self.first_byte[i] - t) * 1000 for i, t in self.submitted.items() if i in self.first_byte
        ]
        return latency_summary(samples, "object") if samples else None


def load_sources(job: Job) -> list[bytes]:
    """Memory uploads: read every source into RAM (before the clock starts)."""
    return [Path(p).read_bytes() for p in job.paths]


def write_output(path: str, output: RunnerOutput) -> None:
    Path(path).write_text(json.dumps(output.to_json()))


class DoneSubscriber:
    """s3transfer subscriber that stamps the completion time of object ``index``."""

    def __init__(self, clock: ObjectClock, index: int) -> None:
        self._clock = clock
        self._index = index

    def on_queued(self, **_kw: Any) -> None:
        pass

    def on_progress(self, **_kw: Any) -> None:
        pass

    def on_done(self, **_kw: Any) -> None:
        self._clock.finish(self._index)
