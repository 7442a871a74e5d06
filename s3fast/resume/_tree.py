"""Resumable tree uploads (``cp -r DIR s3://b/prefix --resumable``): which files are done.

One journal per (source directory realpath, destination URL)::

    {"t": "tree", "v": 1, "source": realpath, "destination": url}
    {"t": "done", "path": local path, "size", "mtime_ns", "inode"}     one per uploaded file

A rerun skips each file recorded done whose size, mtime and inode are unchanged; every
other file is uploaded (a large one resumably: its own journal keeps its parts). A
finished object's record is appended once S3 has answered (no fsync: it outlives a killed
process; a lost record costs one file sent again). The journal is removed when a run
ends with every file done or skipped; otherwise it is kept for the next run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._log import RecordLog, journal_path
from ._plan import SourceStamp

VERSION = 1


def tree_identity(source_dir: str, destination: str) -> str:
    return json.dumps(["tree-upload", source_dir, destination])


def done_files(records: list[dict[str, Any]], source_dir: str, destination: str) -> dict[str, SourceStamp]:
    """The files an earlier run finished (pure): path -> its stamp then. Nothing when the
    journal is for another tree or unreadable."""
    if not records:
        return {}
    head = records[0]
    if (head.get("t") != "tree" or head.get("v") != VERSION or head.get("source") != source_dir
            or head.get("destination") != destination):
        return {}
    done: dict[str, SourceStamp] = {}
    for rec in records[1:]:
        path, size, mtime, inode = rec.get("path"), rec.get("size"), rec.get("mtime_ns"), rec.get("inode")
        if (rec.get("t") == "done" and isinstance(path, str) and isinstance(size, int) and isinstance(mtime, int)
                and isinstance(inode, int)):
            done[path] = SourceStamp(size, mtime, inode)
    return done


class TreeJournal:
    """The open journal of one resumable tree upload."""

    def __init__(self, log: RecordLog, done: dict[str, SourceStamp]) -> None:
        self.log = log
        self._done = done
        #: a file failed or was skipped as unsafe: the run is not complete
        self.incomplete = False

    def __repr__(self) -> str:
        return f"<TreeJournal {self.log!r} done={len(self._done)}>"

    @classmethod
    def open(cls, base: Path, source_dir: str, destination: str) -> TreeJournal:
        real = os.path.realpath(source_dir)
        log, replay = RecordLog.open(journal_path(base, "upload", tree_identity(real, destination)))
        done = done_files(replay.records, real, destination)
        if not done and not (replay.records and replay.records[0].get("t") == "tree"):
            log.close()
            log, _ = RecordLog.open(log.path, fresh=True)
            log.append({"t": "tree", "v": VERSION, "source": real, "destination": destination})
            log.sync()
        return cls(log, done)

    def stamp(self, path: str) -> SourceStamp | None:
        try:
            return SourceStamp.of(os.stat(path))
        except OSError:
            return None

    def finished(self, path: str, stamp: SourceStamp | None) -> bool:
        """Whether an earlier run uploaded ``path`` as it is now."""
        return stamp is not None and self._done.get(path) == stamp

    def record(self, path: str, stamp: SourceStamp | None) -> None:
        if stamp is not None:
            self.log.append({"t": "done", "path": path, "size": stamp.size, "mtime_ns": stamp.mtime_ns,
                             "inode": stamp.inode})

    def close(self, complete: bool) -> None:
        """``complete``: every file is in S3, the journal goes; else it is kept (fsync)."""
        if complete and not self.incomplete:
            self.log.discard()
            return
        try:
            self.log.sync()
        finally:
            self.log.close()


__all__ = ["TreeJournal", "done_files", "tree_identity"]
