"""Workload definitions: small JSON files in ``benchmarks/workloads/``, expanded per storage.

A file describes one direction, object size and object count, and lists the storage variants
to run (``disk``: the runner reads/writes local files; ``memory``: it uploads from / downloads
into buffers). Each variant becomes one :class:`Workload`, named ``<file name>-<storage>``.
The ``suite`` says where the workload is meant to run: ``local`` (loopback servers),
``quick`` (small sizes for a smoke run) or ``ec2`` (real S3, large sizes).
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from ._units import format_size, parse_size

Direction = Literal["upload", "download"]
Storage = Literal["disk", "memory"]

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
SUITES = ("local", "quick", "ec2")


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: ``count`` objects of ``object_size`` bytes in one direction."""

    name: str
    suite: str
    direction: Direction
    object_size: int
    count: int
    storage: Storage
    description: str = ""

    @property
    def total_bytes(self) -> int:
        return self.object_size * self.count

    @property
    def dataset_id(self) -> str:
        """Key of the source data; shared by the upload/download and disk/memory variants."""
        return f"{format_size(self.object_size)}-{self.count}x"

    def __repr__(self) -> str:
        return (
            f"<Workload {self.name} [{self.direction} {self.count} x "
            f"{format_size(self.object_size)} {self.storage} suite={self.suite}]>"
        )


def parse_workload_file(data: dict[str, Any], *, default_name: str = "") -> list[Workload]:
    """Expand one workload file's JSON into one :class:`Workload` per storage variant."""
    base = str(data.get("name") or default_name)
    if not base:
        raise ValueError("workload has no name")
    direction = data.get("direction")
    if direction not in ("upload", "download"):
        raise ValueError(f"{base}: direction must be upload or download, not {direction!r}")
    suite = str(data.get("suite", "local"))
    if suite not in SUITES:
        raise ValueError(f"{base}: unknown suite {suite!r} (one of {', '.join(SUITES)})")
    size = parse_size(data["object_size"])
    count = int(data.get("count", 1))
    if size <= 0 or count <= 0:
        raise ValueError(f"{base}: object_size and count must be positive")
    storages = data.get("storage", ["disk"])
    if isinstance(storages, str):
        storages = [storages]
    out: list[Workload] = []
    for storage in storages:
        if storage not in ("disk", "memory"):
            raise ValueError(f"{base}: storage must be disk or memory, not {storage!r}")
        out.append(
            Workload(
                name=f"{base}-{storage}",
                suite=suite,
                direction=direction,
                object_size=size,
                count=count,
                storage=storage,
                description=str(data.get("description", "")),
            )
        )
    return out


def load_workloads(directory: Path = WORKLOAD_DIR) -> list[Workload]:
    """Every workload defined in ``directory`` (sorted by file name, then storage)."""
    out: list[Workload] = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        out.extend(parse_workload_file(data, default_name=path.stem))
    names = [w.name for w in out]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate workload names: {sorted(duplicates)}")
    return out


def select_workloads(
    workloads: Iterable[Workload],
    *,
    suite: str | None = None,
    patterns: Iterable[str] = (),
    storages: Iterable[str] = (),
) -> list[Workload]:
    """Filter by suite, by shell-style name patterns (any may match) and by storage."""
    pats = [p for p in patterns if p]
    stores = set(storages)
    picked = []
    for w in workloads:
        if suite is not None and w.suite != suite:
            continue
        if pats and not any(fnmatch.fnmatchcase(w.name, p) for p in pats):
            continue
        if stores and w.storage not in stores:
            continue
        picked.append(w)
    return picked
