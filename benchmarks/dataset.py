"""Source data for the benchmarks: deterministic files plus a manifest of their checksums.

Objects live at ``<root>/<bucket>/<prefix>/<dataset id>/obj-NNNNNN`` so that the same tree
is both the upload source and nginx's document root (a path-style ``GET /bucket/key`` maps
straight to a file). Content is a seeded 1 MiB random block in which every 1 MiB chunk is
stamped with its object and chunk number: generation runs at memcpy speed, the bytes are
incompressible, and a misplaced or swapped chunk changes the checksum.

Checksums are CRC64-NVME from awscrt (~24 GB/s here), cheap enough to verify every
downloaded byte outside the timed region.
"""
from __future__ import annotations

import json
import os
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from awscrt import checksums

from .workloads import Workload

BLOCK = 1 << 20
_STAMP = struct.Struct("<8sQQ")
_MAGIC = b"s3fastbk"
_MANIFEST_VERSION = 1
DOWNLOAD_PREFIX = "dl"
_READ_CHUNK = 8 << 20


def crc64_buffer(data: bytes | bytearray | memoryview, previous: int = 0) -> int:
    return int(checksums.crc64nvme(data, previous))


def crc64_file(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Return ``(crc64, size)`` of a file, read in 8 MiB chunks."""
    crc = 0
    size = 0
    buf = bytearray(_READ_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                break
            crc = crc64_buffer(view[:n], crc)
            size += n
    return crc, size


def _seed_block(dataset_id: str) -> bytes:
    return random.Random(f"s3fast-bench/{dataset_id}").randbytes(BLOCK)


def generate_object(dataset_id: str, index: int, size: int, write: Callable[[bytes], object]) -> int:
    """Feed object ``index`` of a dataset to ``write`` chunk by chunk; return its CRC64."""
    block = bytearray(_seed_block(dataset_id))
    crc = 0
    offset = 0
    chunk_no = 0
    while offset < size:
        _STAMP.pack_into(block, 0, _MAGIC, index, chunk_no)
        n = min(BLOCK, size - offset)
        piece = bytes(block[:n])
        write(piece)
        crc = crc64_buffer(piece, crc)
        offset += n
        chunk_no += 1
    return crc


@dataclass(frozen=True)
class Dataset:
    """The files of one dataset and their expected checksums."""

    dataset_id: str
    bucket: str
    object_size: int
    root: Path
    checksums: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.checksums)

    def key(self, index: int) -> str:
        return f"{DOWNLOAD_PREFIX}/{self.dataset_id}/obj-{index:06d}"

    def keys(self) -> list[str]:
        return [self.key(i) for i in range(self.count)]

    def path(self, index: int) -> Path:
        return self.root / self.bucket / self.key(index)

    def paths(self) -> list[Path]:
        return [self.path(i) for i in range(self.count)]

    def __repr__(self) -> str:
        return f"<Dataset {self.dataset_id} [{self.count} objects of {self.object_size} B in {self.root}]>"


def _manifest_path(root: Path, dataset_id: str) -> Path:
    return root / f"manifest-{dataset_id}.json"


def ensure_dataset(root: Path, bucket: str, workload: Workload) -> Dataset:
    """Create (or reuse, when the manifest and file sizes still match) a workload's source files."""
    dataset_id = workload.dataset_id
    manifest = _manifest_path(root, dataset_id)
    if manifest.exists():
        data = json.loads(manifest.read_text())
        ds = Dataset(dataset_id, bucket, int(data["object_size"]), root, tuple(data["crc64"]))
        if (
            data.get("version") == _MANIFEST_VERSION
            and data.get("bucket") == bucket
            and ds.object_size == workload.object_size
            and ds.count == workload.count
            and all(p.is_file() and p.stat().st_size == ds.object_size for p in ds.paths())
        ):
            return ds
    crcs = []
    template = Dataset(dataset_id, bucket, workload.object_size, root, (0,) * workload.count)
    for i, path in enumerate(template.paths()):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            crcs.append(generate_object(dataset_id, i, workload.object_size, f.write))
    manifest.write_text(
        json.dumps(
            {
                "version": _MANIFEST_VERSION,
                "dataset_id": dataset_id,
                "bucket": bucket,
                "object_size": workload.object_size,
                "crc64": crcs,
            }
        )
    )
    return Dataset(dataset_id, bucket, workload.object_size, root, tuple(crcs))
