"""One record per run, stored as JSON lines (``runs.jsonl``) beside ``meta.json``.

Records are appended as runs finish, so an interrupted benchmark keeps what it measured and
``python -m benchmarks report DIR`` can rebuild tables and plots from the raw file at any
time. Units: MB/s is 10^6 bytes per second, Gbps 10^9 bits per second, CPU-s/GiB is the
child's user+sys seconds per 2^30 bytes, RSS in MiB.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._units import GIB

RUNS_FILE = "runs.jsonl"
META_FILE = "meta.json"


@dataclass
class RunRecord:
    """Raw facts of one run (what was measured), plus metrics derived from them."""

    run_id: str
    target: str
    workload: str
    direction: str
    storage: str
    object_size: int
    count: int
    runner: str
    mode: str
    label: str
    rep: int
    ok: bool
    error: str | None = None
    verified: bool | None = None
    verify_detail: str = ""
    seconds: float | None = None
    seconds_source: str = "process"
    process_wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    cpu_s_timed: float | None = None
    maxrss_kib: int = 0  # peak RSS of the runner's own address space (VmHWM)
    rusage_maxrss_kib: int = 0  # raw ru_maxrss: includes the harness's RSS at fork, kept for reference
    returncode: int = 0
    started_at: str = ""
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return self.object_size * self.count

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def usable(self) -> bool:
        """Counts in the statistics: finished, and no verification failed."""
        return self.ok and self.verified is not False and bool(self.seconds)

    def metrics(self) -> dict[str, float | None]:
        return derive_metrics(self)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = self.metrics()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def derive_metrics(r: RunRecord) -> dict[str, float | None]:
    """Throughput, rates and per-GiB costs of one run (None where a run cannot give them).

    Two views of every run. *Whole process* (``*_process``, ``cpu_s_per_gib``): from fork/exec
    to exit, as the harness measured the child (``process_wall_s``, user+sys from ``wait4``):
    start-up and imports count, for every runner alike, as they do for a user. *In region*
    (``mb_per_s``, ``cpu_s_region_per_gib``): the runner's own timed region (Python runners:
    first request to last completion); executables have no other region than the process.
    """
    gib = r.total_bytes / GIB
    wall = r.process_wall_s if r.process_wall_s and r.process_wall_s > 0 else None
    out: dict[str, float | None] = {
        "mb_per_s_process": r.total_bytes / wall / 1e6 if wall else None,
        "objects_per_s_process": r.count / wall if wall else None,
        "wall_s_process": wall,
        "cpu_s_process": r.cpu_s if wall else None,
        "peak_rss_mib": r.maxrss_kib / 1024,
    }
    if not r.seconds or r.seconds <= 0:
        return {**out, "mb_per_s": None, "gbps": None, "objects_per_s": None, "cpu_s_per_gib": None,
                "cpu_s_timed_per_gib": None, "cpu_s_region_per_gib": None}
    timed = (r.cpu_s_timed / gib) if (r.cpu_s_timed is not None and gib) else None
    whole = r.cpu_s / gib if gib else None
    return {
        **out,
        "mb_per_s": r.total_bytes / r.seconds / 1e6,
        "gbps": r.total_bytes * 8 / r.seconds / 1e9,
        "objects_per_s": r.count / r.seconds,
        "cpu_s_per_gib": whole,
        "cpu_s_timed_per_gib": timed,
        "cpu_s_region_per_gib": timed if timed is not None else (whole if r.seconds_source == "process" else None),
    }


def append_record(out_dir: Path, record: RunRecord) -> None:
    with open(out_dir / RUNS_FILE, "a") as f:
        f.write(json.dumps(record.to_json(), sort_keys=True) + "\n")


def read_records(out_dir: Path) -> list[RunRecord]:
    path = out_dir / RUNS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        if line.strip():
            records.append(RunRecord.from_json(json.loads(line)))
    return records


def write_meta(out_dir: Path, meta: dict[str, Any]) -> None:
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def read_meta(out_dir: Path) -> dict[str, Any]:
    path = out_dir / META_FILE
    return json.loads(path.read_text()) if path.exists() else {}
