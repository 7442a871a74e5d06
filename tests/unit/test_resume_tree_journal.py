"""The tree journal of a resumable cp -r / sync / mv: what it says is done (no server)."""
from __future__ import annotations

import os
from pathlib import Path

from s3fast.resume._tree import TreeJournal, done_files, stamp_of


def test_a_download_is_done_only_with_its_file_unchanged_and_the_same_etag(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    f = dest / "a.bin"
    f.write_bytes(b"x" * 10)
    j = TreeJournal.open(tmp_path / "state", "s3://b/p/", str(dest), kind="download")
    assert not j.resumed
    j.record(str(f), stamp_of(str(f)), '"e1"')
    j.close(complete=False)

    again = TreeJournal.open(tmp_path / "state", "s3://b/p/", str(dest), kind="download")
    assert again.resumed
    assert again.finished(str(f), stamp_of(str(f)), '"e1"')
    assert not again.finished(str(f), stamp_of(str(f)), '"e2"')  # the object changed since
    f.write_bytes(b"y" * 11)
    assert not again.finished(str(f), stamp_of(str(f)), '"e1"')  # the file changed since
    os.unlink(f)
    assert not again.finished(str(f), stamp_of(str(f)), '"e1"')
    again.close(complete=True)
    assert list((tmp_path / "state" / "journals").iterdir()) == []


def test_a_journal_of_another_tree_counts_nothing() -> None:
    head = {"t": "tree", "v": 1, "source": "s3://b/p/", "destination": "/d"}
    rec = {"t": "done", "path": "/d/a", "size": 1, "mtime_ns": 2, "inode": 3, "etag": "e"}
    assert set(done_files([head, rec], "s3://b/p/", "/d")) == {"/d/a"}
    assert done_files([head, rec], "s3://b/q/", "/d") == {}
    assert done_files([{**head, "v": 2}, rec], "s3://b/p/", "/d") == {}
    assert done_files([head, {**rec, "size": "1"}], "s3://b/p/", "/d") == {}
